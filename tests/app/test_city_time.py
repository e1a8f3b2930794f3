"""Times are shown on the city's clock (the working calendar's offset), not on the clock of whatever
machine runs the app: a server in UTC, a phone set to another zone, a browser anywhere."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mobile.app.i18n import Translator, city_zone
from mobile.app.state.case_detail import CaseState
from mobile.app.state.session import AppSession
from mobile.app.state.sync import SyncState
from mobile.core.secrets import MemorySecretStore
from tests.mobile.conftest import GRID_A, Clock, enroll_offline, fix_in

SHANGHAI = timezone(timedelta(hours=8))
#: Monday 1 June 2026, 08:30 in Shanghai: the working day's first minute (00:30 UTC, and 17:30 of the
#: day before in Los Angeles)
MONDAY_0830 = int(datetime(2026, 6, 1, 8, 30, tzinfo=SHANGHAI).timestamp())


@pytest.fixture
def machine_in_los_angeles(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's own zone is neither UTC nor the city's: the app must not use it."""
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    assert time.strftime("%H:%M", time.localtime(MONDAY_0830)) == "17:30"
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_known_moment_reads_as_shanghai_wall_time(
    tmp_path: Path, machine_in_los_angeles: None, clock: Clock
) -> None:
    clock.now = MONDAY_0830
    keys = MemorySecretStore()
    enroll_offline(tmp_path / "phone", clock, secrets=keys).close()  # the demo city: 08:30–18:00 at +08:00
    app = AppSession(tmp_path / "phone", device_locales=["en"], secrets=keys, clock=clock)
    calendar = app.device.calendar()
    assert calendar is not None and calendar.utc_offset_minutes == 480

    case_id = app.device.report(category="0102", location=fix_in(GRID_A, clock()))
    case = CaseState(app.device, app.tr, case_id)
    assert ("Reported", "06-01 08:30") in case.facts()
    assert [line.when for line in case.timeline()] == ["06-01 08:30"]

    # The calendar's 8 working hours from 08:30 end at 18:00, and show as 18:00.
    assert app.tr.when(calendar.add_working_hours(MONDAY_0830, 8)) == "06-01 18:00"

    app.device.network_retries = 0
    asyncio.run(app.device.sync())  # no server: the round still ends, at 08:30:00 city time
    assert SyncState(app.device, app.tr, clock=clock).last_round_text() == "Last sync round: 08:30:00"
    app.close()


def test_before_enrollment_times_are_china_time_and_a_calendar_can_say_otherwise() -> None:
    assert Translator("en").when(MONDAY_0830) == "06-01 08:30"
    west = Translator("en", zone=lambda: city_zone(-5 * 60))
    assert west.when(MONDAY_0830) == "05-31 19:30"
    assert west.time_of_day(MONDAY_0830) == "19:30:00"
    assert Translator("en").when(None) == "—"
