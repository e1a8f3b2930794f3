"""The phone runs the server's rules on place, and judges overdue on the server's clock and the city's
working calendar (issue 10, items 6 and 9)."""

from __future__ import annotations

import calendar as dates
from pathlib import Path

import pytest

from mobile.core import outbox, photo_records
from mobile.core.device import Device
from mobile.core.location import Fix
from shared.errors import CATALOGUE, GridsyncError
from tests.mobile.conftest import GRID_A, GRID_B, Clock, Server, enroll_offline, fix_in, jpeg, run

BEIJING = Fix(39.9042, 116.4074, 8.0, 0, "gps")
FIVE_YEARS = 5 * 365 * 86400


def _shanwei(year: int, month: int, day: int, hour: int, minute: int = 0) -> int:
    """Epoch seconds of a wall-clock time in Shanwei (UTC+8)."""
    return dates.timegm((year, month, day, hour, minute, 0)) - 8 * 3600


def _refused(device: Device, case_id: str, code: str, **fields: object) -> None:
    before = len(outbox.all_records(device.store))
    with pytest.raises(GridsyncError) as refused:
        device.edit(case_id, **fields)
    assert refused.value.code == code
    assert (
        refused.value.message("zh-CN") == CATALOGUE[code].zh
        and refused.value.message("en") == CATALOGUE[code].en
    )
    assert len(outbox.all_records(device.store)) == before  # nothing written, nothing to send


# --- item 6: the phone refuses what the server would, before anything is sent ----------------------


def test_a_worker_moving_a_case_to_beijing_is_refused_on_the_phone_in_words(offline_device: Device) -> None:
    case_id = offline_device.report(category="0101", location=fix_in(GRID_A))
    _refused(offline_device, case_id, "case.no_grid", location=BEIJING)
    view = offline_device.case(case_id)
    assert view is not None and view.grid_code == GRID_A and view.location.lat == fix_in(GRID_A).lat


def test_a_worker_moving_a_case_into_a_grid_they_do_not_cover_is_refused_on_the_phone(
    offline_device: Device,
) -> None:
    case_id = offline_device.report(category="0101", location=fix_in(GRID_A))
    _refused(offline_device, case_id, "case.outside_grid", location=fix_in(GRID_B))


def test_the_phone_never_sets_a_grid_by_hand(offline_device: Device) -> None:
    case_id = offline_device.report(category="0101", location=fix_in(GRID_A))
    _refused(offline_device, case_id, "case.grid_derived", grid_code=GRID_B)
    create = outbox.all_records(offline_device.store)[0].op
    assert "grid_code" not in create.payload  # the report names no grid: the server derives it


def test_a_supervisor_moving_a_case_takes_the_grid_of_the_new_place(tmp_path: Path, clock: Clock) -> None:
    device = enroll_offline(tmp_path / "sup", clock, role="supervisor", grids=(GRID_A, GRID_B))
    case_id = device.report(category="0101", location=fix_in(GRID_A))
    device.edit(case_id, location=fix_in(GRID_B))
    view = device.case(case_id)
    assert view is not None and view.grid_code == GRID_B
    device.close()


# --- item 9: overdue on the server's clock and the city's working calendar ----------------------


def _filed(tmp_path: Path, clock: Clock) -> tuple[Device, str]:
    device = enroll_offline(tmp_path / "sup", clock, role="supervisor", grids=(GRID_A, GRID_B))
    case_id = device.report(category="0101", location=fix_in(GRID_A))  # 2 working hours to handle
    device.transition(case_id, "file")
    return device, case_id


def _teach_offset(device: Device, offset: int) -> None:
    """What a sync does when the server says the phone's clock is off (`request.expired` + Date)."""
    with device.store.transaction() as conn:
        device.store.set_state(conn, "clock_offset", offset)


def test_a_phone_five_years_ahead_does_not_show_a_fresh_case_overdue(tmp_path: Path, clock: Clock) -> None:
    device, case_id = _filed(tmp_path, clock)
    clock.advance(FIVE_YEARS)  # the phone's clock jumps; the server taught it the offset
    _teach_offset(device, -FIVE_YEARS)
    view = device.case(case_id)
    assert view is not None and view.deadline is not None and view.overdue is False
    assert device.dashboard()["overdue"] == 0
    device.close()


def test_a_case_due_friday_at_the_end_of_work_is_not_overdue_on_saturday_but_is_on_monday(
    tmp_path: Path, clock: Clock
) -> None:
    clock.now = _shanwei(2026, 5, 29, 16)  # Friday 16:00: 2 working hours → due Friday 18:00
    device, case_id = _filed(tmp_path, clock)
    view = device.case(case_id)
    assert view is not None and view.deadline == _shanwei(2026, 5, 29, 18)
    clock.now = _shanwei(2026, 5, 30, 10)  # Saturday 10:00: no working time has passed
    view = device.case(case_id)
    assert view is not None and view.overdue is False
    assert device.dashboard()["overdue"] == 0
    clock.now = _shanwei(2026, 6, 1, 9)  # Monday 09:00: half a working hour past the deadline
    view = device.case(case_id)
    assert view is not None and view.overdue is True
    assert device.dashboard()["overdue"] == 1
    device.close()


def test_the_dashboard_reads_the_phones_clock_reading_on_the_servers_clock(
    tmp_path: Path, clock: Clock
) -> None:
    device, _ = _filed(tmp_path, clock)
    _teach_offset(device, -FIVE_YEARS)
    assert device.dashboard(clock() + FIVE_YEARS)["overdue"] == 0  # the app passes its own clock reading
    device.close()


# --- item 7 on the phone: a closure the server refuses for missing evidence drains and is shown ------


def test_a_supervisors_closure_on_an_after_photo_that_never_arrived_comes_back_refused_and_shown(
    server: Server, tmp_path: Path
) -> None:
    worker = server.device(tmp_path / "w", "zhang.wei")
    supervisor = server.device(tmp_path / "s", "chen.jing", "supervisor", (), all_grids=True)
    case_id = worker.report(
        category="0101",
        location=fix_in(GRID_A),
        photos=[(jpeg(1), "before"), (jpeg(2), "after")],
        on_spot=True,
    )
    after = next(r for r in photo_records.to_upload(worker.store) if r.stage == "after")
    path = worker.photo_store.root / str(after.blob_path)  # damaged on the phone: refused by its hash
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:-1] + bytes([path.read_bytes()[-1] ^ 0xFF]))
    report = run(worker.sync())
    assert report.ops_sent == 3 and report.photos_uploaded == 1  # the text went, the after photo did not
    run(supervisor.sync())
    supervisor.transition(case_id, "close")  # the phone counts the claims: allowed locally
    report = run(supervisor.sync())
    assert report.rejected == 1 and supervisor.pending().ops == 0  # the outbox drained
    view = supervisor.case(case_id)
    assert view is not None and view.status == "reported" and not view.pending
    assert [(p.kind, p.code) for p in view.problems] == [("rejected", "case.after_not_arrived")]
    assert view.problems[0].message_zh == CATALOGUE["case.after_not_arrived"].zh
    assert server.case(case_id).status == "reported"
