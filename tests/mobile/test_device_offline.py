"""The device core with no network: every action is one local transaction, checked by the rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mobile.core import outbox
from mobile.core.device import Device
from mobile.core.migrations import MIGRATIONS
from shared.errors import GridsyncError
from tests.mobile.conftest import GRID_A, GRID_B, Clock, enroll_offline, fix_in, jpeg


def _count(device: Device, table: str) -> int:
    row = device.store.one(f"SELECT COUNT(*) FROM {table}")
    assert row is not None
    return int(row[0])


def test_a_report_with_photos_is_one_create_op_and_one_photo_op_each(offline_device: Device) -> None:
    case_id = offline_device.report(
        category="0101",
        location=fix_in(GRID_A),
        description="井盖破损",
        photos=[(jpeg(1), "before"), (jpeg(2), "before")],
    )
    records = outbox.all_records(offline_device.store)
    assert [r.op.kind for r in records] == ["create", "photo", "photo"]
    assert [r.op.seq for r in records] == [1, 2, 3]
    assert all(r.state == "pending" and r.op.base_version == 0 for r in records)
    view = offline_device.case(case_id)
    assert view is not None and view.pending and view.status == "reported"
    assert view.grid_code == GRID_A and len(view.case.photos) == 2
    assert offline_device.pending().ops == 3 and offline_device.pending().photos == 2


def test_a_stored_photo_opens_to_the_prepared_jpeg_and_its_thumbnail(offline_device: Device) -> None:
    case_id = offline_device.report(category="0101", location=fix_in(GRID_A), photos=[(jpeg(3), "before")])
    view = offline_device.case(case_id)
    assert view is not None
    sha = view.case.photos[0].sha256
    full, thumb = offline_device.photo_bytes(sha), offline_device.photo_bytes(sha, thumb=True)
    assert full is not None and full[:2] == b"\xff\xd8" and thumb is not None and thumb[:2] == b"\xff\xd8"
    blob = (offline_device.photo_store.path_for(sha)).read_bytes()
    assert full not in blob  # kept sealed on the phone


def test_a_worker_cannot_file_a_case_and_nothing_is_written(offline_device: Device) -> None:
    case_id = offline_device.report(category="0101", location=fix_in(GRID_A))
    before = _count(offline_device, "outbox")
    with pytest.raises(GridsyncError) as caught:
        offline_device.transition(case_id, "file")
    assert caught.value.code == "case.not_allowed"
    assert _count(offline_device, "outbox") == before


def test_a_report_outside_every_grid_is_refused_with_no_grid(offline_device: Device) -> None:
    from mobile.core.location import Fix

    with pytest.raises(GridsyncError) as caught:
        offline_device.report(category="0101", location=Fix(30.0, 120.0, 5.0, 0))
    assert caught.value.code == "case.no_grid"
    assert _count(offline_device, "outbox") == 0 and _count(offline_device, "local_cases") == 0


def test_a_report_outside_the_workers_grids_is_refused(offline_device: Device) -> None:
    with pytest.raises(GridsyncError) as caught:
        offline_device.report(category="0101", location=fix_in(GRID_B))
    assert caught.value.code == "case.outside_grid"


def test_closing_an_on_spot_report_without_an_after_photo_says_evidence_missing(
    tmp_path: Path, clock: Clock
) -> None:
    device = enroll_offline(tmp_path / "sup", clock, role="supervisor")
    case_id = device.report(
        category="5101", location=fix_in(GRID_A), photos=[(jpeg(4), "before")], on_spot=True
    )
    with pytest.raises(GridsyncError) as caught:
        device.transition(case_id, "close")
    assert caught.value.code == "case.evidence_missing"
    device.add_photo(case_id, jpeg(5), "after")
    device.transition(case_id, "close")
    assert device.case(case_id).status == "closed"  # type: ignore[union-attr]
    device.close()


def test_a_reason_is_required_to_reject(tmp_path: Path, clock: Clock) -> None:
    device = enroll_offline(tmp_path / "sup", clock, role="supervisor")
    case_id = device.report(category="0101", location=fix_in(GRID_A))
    with pytest.raises(GridsyncError) as caught:
        device.transition(case_id, "reject")
    assert caught.value.code == "case.reason_required"
    device.transition(case_id, "reject", reason="不属实")
    assert device.case(case_id).status == "rejected"  # type: ignore[union-attr]
    device.close()


def test_notes_edits_and_filters_show_in_the_local_view(offline_device: Device) -> None:
    a = offline_device.report(
        category="0101", location=fix_in(GRID_A), description="manhole", address="人民路 1 号"
    )
    b = offline_device.report(category="5101", location=fix_in(GRID_A), description="garbage")
    offline_device.add_note(a, "still open")
    offline_device.edit(b, description="overflowing garbage bin")
    assert [v.case_id for v in offline_device.cases(text="人民路")] == [a]
    assert [v.case_id for v in offline_device.cases(text="OVERFLOWING")] == [b]
    assert {v.case_id for v in offline_device.cases(mine=True, status="reported")} == {a, b}
    assert offline_device.case(a).notes[0].text == "still open"  # type: ignore[union-attr]
    assert [c.code for c in offline_device.recent_categories()] == ["5101", "0101"]


def test_allowed_actions_follow_the_role(tmp_path: Path, clock: Clock, offline_device: Device) -> None:
    case_id = offline_device.report(category="0101", location=fix_in(GRID_A))
    assert offline_device.allowed_actions(case_id) == []
    sup = enroll_offline(tmp_path / "sup", clock, role="supervisor")
    sid = sup.report(category="0101", location=fix_in(GRID_A))
    assert set(sup.allowed_actions(sid)) == {"file", "reject", "void"}
    sup.close()


def test_everything_survives_closing_and_reopening_the_store(tmp_path: Path, clock: Clock) -> None:
    device = enroll_offline(tmp_path / "phone", clock)
    secrets = device.secrets
    case_id = device.report(category="0101", location=fix_in(GRID_A), photos=[(jpeg(6), "before")])
    device.close()
    again = Device.open(tmp_path / "phone", secrets, clock=clock)
    assert again.enrolled and again.case(case_id) is not None
    assert again.pending().ops == 2
    rows = again.store.all("SELECT version FROM schema_migrations")
    assert [r[0] for r in rows] == [version for version, _, _ in MIGRATIONS]  # each once
    again.close()


def test_sign_out_refuses_while_work_is_pending_unless_forced(offline_device: Device) -> None:
    offline_device.report(category="0101", location=fix_in(GRID_A))
    with pytest.raises(GridsyncError) as caught:
        offline_device.sign_out()
    assert caught.value.code == "request.forbidden"
    offline_device.sign_out(force=True)
    assert not offline_device.enrolled and offline_device.cases() == []


def test_dashboard_counts_cases_by_status_and_grid(tmp_path: Path, clock: Clock) -> None:
    device = enroll_offline(tmp_path / "sup", clock, role="supervisor")
    a = device.report(category="0101", location=fix_in(GRID_A))
    device.report(category="0101", location=fix_in(GRID_A))
    device.transition(a, "reject", reason="dup")
    board = device.dashboard(clock())
    assert board["by_status"] == {"rejected": 1, "reported": 1}
    assert board["valid"] == 1 and board["per_grid"][GRID_A]["total"] == 2
    json.dumps(board)
    device.close()
