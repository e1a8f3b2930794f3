"""Sync status people can trust: the last *successful* sync survives failed rounds, and what waits
is counted as the person made it (reports, actions, photos), in words with proper plurals."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mobile.app.i18n import Translator
from mobile.app.state.home import HomeState
from mobile.app.state.session import AppSession
from mobile.app.state.sync import SyncState, unsent_text
from tests.app.test_states_with_server import _DeadTransport, one_background_round
from tests.mobile.conftest import GRID_A, Clock, Server, fix_in, jpeg


def test_an_offline_round_keeps_showing_the_last_successful_sync_and_how_long_ago(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    code = server.add_worker("zhang.wei", grids=(GRID_A,))
    online = AppSession(tmp_path / "phone", device_locales=["en"], clock=clock, transport=server.transport)
    asyncio.run(online.device.enroll(server.url, code))
    assert asyncio.run(one_background_round(online)).ok
    secrets = online.secrets
    online.close()
    clock.advance(600)
    offline = AppSession(
        tmp_path / "phone", device_locales=["en"], clock=clock, secrets=secrets, transport=_DeadTransport()
    )
    assert not asyncio.run(one_background_round(offline)).reached_server
    clock.advance(60)
    home = HomeState(offline.device, offline.tr, clock=clock).sync_line()
    assert home.startswith("Last successful sync: 11 min ago · No network."), home
    assert "just now" not in home
    sync = SyncState(offline.device, offline.tr, clock=clock)
    assert sync.last_success_text() == "Last successful sync: 11 min ago"
    offline.close()


def test_one_offline_report_with_one_photo_is_one_report_and_one_photo(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    code = server.add_worker("zhang.wei", grids=(GRID_A,))
    app = AppSession(tmp_path / "phone", device_locales=["en"], clock=clock, transport=server.transport)
    asyncio.run(app.device.enroll(server.url, code))
    case_id = app.device.report(
        category="0101", location=fix_in(GRID_A, clock()), photos=[(jpeg(1), "before")]
    )
    sync = SyncState(app.device, app.tr, clock=clock)
    assert sync.pending_lines() == ["Reports to upload: 1", "Photos to upload: 1"]
    assert sync.pending_total() == 2 and HomeState(app.device, app.tr, clock=clock).pending_count() == 2
    assert unsent_text(app.device.unsent_work(), app.tr) == "1 report, 1 photo"
    app.device.add_note(case_id, "cones placed")
    app.device.add_photo(case_id, jpeg(2), "before")
    assert unsent_text(app.device.unsent_work(), app.tr) == "1 report, 1 action, 2 photos"
    assert unsent_text(app.device.unsent_work(), Translator("zh-CN")) == "1 条上报、1 项操作、2 张照片"
    assert asyncio.run(one_background_round(app)).ok
    assert sync.pending_lines() == ["Everything is uploaded."]
    app.close()


def test_english_counts_read_as_english() -> None:
    en = Translator("en")
    assert en.t("sync.result_ok", sent=1, received=1) == "Synced: sent 1, received 1 update."
    assert en.t("sync.result_ok", sent=2, received=3) == "Synced: sent 2, received 3 updates."
    assert en.t("map.cases", count=1) == "1 case"
    assert en.t("map.cases", count=0) == "0 cases"
    assert en.t("sync.rejected", count=1).startswith("1 change was refused")
    assert en.t("report.photo_count", count=1) == "1 photo"
    assert Translator("zh-CN").t("map.cases", count=1) == "1 个案件"


def test_the_last_successful_round_outlives_the_trimming_of_the_sync_log(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    code = server.add_worker("zhang.wei", grids=(GRID_A,))
    app = AppSession(tmp_path / "phone", device_locales=["en"], clock=clock, transport=server.transport)
    asyncio.run(app.device.enroll(server.url, code))
    good = asyncio.run(one_background_round(app))
    for n in range(250):  # days offline: the log keeps 200 rounds
        app.device.store.log_sync(n, n, False, {"ok": False, "reached_server": False, "started_at": n})
    found = app.device.last_good_sync()
    assert found is not None and found.finished_at == good.finished_at
    app.close()
