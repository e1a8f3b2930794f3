"""Scenarios against the real server: long offline periods, conflicts, refusals, the hand-over file."""

from __future__ import annotations

import random
from pathlib import Path

from mobile.core import handover, outbox
from shared.model import case_to_dict
from tests.mobile.conftest import GRID_A, Server, fix_in, jpeg, run


def _agree(server: Server, *phones) -> None:  # type: ignore[no-untyped-def]
    for phone in phones:
        docs = {v.case_id: case_to_dict(v.case) for v in phone.cases()}
        for case_id, doc in docs.items():
            theirs = server.case(case_id)
            assert theirs is not None, case_id
            assert doc == case_to_dict(theirs), case_id


def test_a_device_offline_for_days_with_hundreds_of_ops_catches_up_in_one_sync(
    server: Server, tmp_path: Path
) -> None:
    phone = server.device(tmp_path / "p", "zhang.wei")
    rng = random.Random(3)
    case_ids = []
    for day in range(4):
        for _ in range(40):
            case_id = phone.report(
                category=rng.choice(["0101", "5101", "0103"]),
                location=fix_in(GRID_A, jitter=0.0003, rng=rng),
                description=f"day {day}",
            )
            for n in range(3):
                phone.add_note(case_id, f"note {n}")
            case_ids.append(case_id)
        server.clock.advance(86_400)
    assert phone.pending().ops == 640
    report = run(phone.sync())
    assert report.ok, report.problems
    assert report.segments_sent == 2 and report.ops_sent == 640
    assert report.outcomes == {"applied": 640}
    assert phone.pending().empty
    _agree(server, phone)
    assert all(len(server.case(c).notes) == 3 for c in case_ids)


def test_two_devices_editing_the_same_case_offline_converge_with_the_conflict_shown_on_both(
    server: Server, tmp_path: Path
) -> None:
    a = server.device(tmp_path / "a", "zhang.wei")
    b = server.device(tmp_path / "b", "li.na")
    case_id = a.report(category="0101", location=fix_in(GRID_A), description="broken cover")
    assert run(a.sync()).ok and run(b.sync()).ok
    a.edit(case_id, description="cover missing")
    b.edit(case_id, description="cover cracked", address="人民路 3 号")
    assert run(a.sync()).ok
    b_report = run(b.sync())
    assert b_report.conflicts == 1
    assert run(a.sync()).ok
    _agree(server, a, b)
    case = server.case(case_id)
    assert case.hard_conflict and case.description == "cover missing" and case.address == "人民路 3 号"
    for phone in (a, b):
        view = phone.case(case_id)
        assert view is not None and not view.pending
        assert any(p.kind == "open_conflict" and p.detail == "description" for p in view.problems)
    lost = [p for p in b.case(case_id).problems if p.kind == "conflict"]  # type: ignore[union-attr]
    assert lost and lost[0].code == "hard_conflict"


def test_a_supervisor_resolves_a_conflict_and_every_phone_converges(server: Server, tmp_path: Path) -> None:
    a = server.device(tmp_path / "a", "zhang.wei")
    b = server.device(tmp_path / "b", "li.na")
    sup = server.device(tmp_path / "s", "chen.jing", "supervisor", (), all_grids=True)
    case_id = a.report(category="0101", location=fix_in(GRID_A), description="one")
    run(a.sync())
    run(b.sync())
    a.edit(case_id, description="two")
    b.edit(case_id, description="three")
    run(a.sync())
    run(b.sync())
    run(sup.sync())
    assert [v.case_id for v in sup.approval_queue()] == [case_id]
    conflict = sup.case(case_id).case.open_conflicts()[0]  # type: ignore[union-attr]
    sup.resolve_conflict(case_id, conflict.conflict_id, "take")
    assert run(sup.sync()).ok
    for phone in (a, b, sup):
        assert run(phone.sync()).ok
    _agree(server, a, b, sup)
    assert server.case(case_id).description == "three" and not server.case(case_id).hard_conflict


def test_a_move_the_server_refuses_is_kept_and_shown_with_its_code(server: Server, tmp_path: Path) -> None:
    worker = server.device(tmp_path / "w", "zhang.wei")
    s1 = server.device(tmp_path / "s1", "chen.jing", "supervisor", (), all_grids=True)
    s2 = server.device(tmp_path / "s2", "zhao.min", "supervisor", (), all_grids=True)
    case_id = worker.report(category="0101", location=fix_in(GRID_A))
    run(worker.sync())
    run(s1.sync())
    run(s2.sync())
    s1.transition(case_id, "file")
    s2.transition(case_id, "reject", reason="not a problem")
    assert run(s1.sync()).ok
    report = run(s2.sync())
    assert report.rejected == 1
    view = s2.case(case_id)
    assert view is not None and view.status == "dispatched" and not view.pending
    assert [(p.kind, p.code) for p in view.problems] == [("rejected", "case.bad_transition")]
    assert "[case.bad_transition]" in str(view.problems[0])
    records = outbox.all_records(s2.store)
    assert [r.state for r in records] == ["rejected"]
    _agree(server, s1, s2)


def test_the_handover_file_is_ingested_by_the_server_and_the_phone_then_agrees(
    server: Server, tmp_path: Path
) -> None:
    from sync_server.ingest import read_handover, run_ingest

    phone = server.device(tmp_path / "p", "zhang.wei")
    case_id = phone.report(category="0101", location=fix_in(GRID_A), photos=[(jpeg(1), "before")])
    phone.add_note(case_id, "seen again")
    spool = tmp_path / "spool"
    path = phone.export_handover(spool / "phone.gsho")
    segments, photos = handover.read(path.read_bytes())
    assert len(segments) == 1 and len(photos) == 1
    assert [e.kind for e in read_handover(path.read_bytes())] == [1, 2]
    summary = run_ingest(server.services, spool, progress=False)
    assert summary.rejected == 0
    assert server.case(case_id) is not None and len(server.case(case_id).notes) == 1
    report = run(phone.sync())
    assert report.ok, report.problems
    assert phone.pending().empty and report.bytes_uploaded == 0  # the photo came with the hand-over
    _agree(server, phone)


def test_edits_of_different_fields_from_a_stale_base_are_both_kept_as_a_soft_conflict(
    server: Server, tmp_path: Path
) -> None:
    a = server.device(tmp_path / "a", "zhang.wei")
    b = server.device(tmp_path / "b", "li.na")
    case_id = a.report(category="0101", location=fix_in(GRID_A), description="one")
    run(a.sync())
    run(b.sync())
    a.edit(case_id, description="two")
    b.edit(case_id, address="人民路 5 号")
    run(a.sync())
    report = run(b.sync())
    assert report.outcomes == {"soft_conflict": 1}
    assert [r.state for r in outbox.all_records(b.store)] == ["applied"]
    run(a.sync())
    _agree(server, a, b)
    case = server.case(case_id)
    assert (case.description, case.address, case.hard_conflict) == ("two", "人民路 5 号", False)
    assert a.pending().empty and b.pending().empty
