"""Rule 1: segments after a gap wait in the backlog, and are applied in order when the gap fills."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from shared.envelope import segment_hash
from sync_server.ingest import run_ingest
from tests.server.device import hex32


def test_a_segment_after_a_gap_is_held_then_applied_in_order_when_the_gap_fills(
    worker: Any, services: Any
) -> None:
    case_id = hex32()
    first = worker.seal([worker.create(case_id)])
    second = worker.seal([worker.note(case_id)])
    third = worker.seal([worker.note(case_id, "第二条")])
    assert worker.push(first).json()["status"] == "applied"
    held = worker.push(third).json()
    assert held == {
        "device_id": worker.device_id,
        "first_seq": 3,
        "last_seq": 3,
        "status": "held",
        "outcomes": [],
        "incarnation": services.store.incarnation(),
        "device_seq": 1,  # where the server stands for the device: segment 2 is missing
    }
    assert services.store.case(case_id).version == 1
    assert services.store.backlog_size() == 1
    assert worker.push(second).json()["status"] == "applied"
    case = services.store.case(case_id)
    assert [n.text for n in case.notes] == ["已到现场", "第二条"]
    assert services.store.backlog_size() == 0
    assert services.store.device(worker.device_id).last_seq == 3
    outcomes = worker.pull_all()["outcomes"]
    assert [o["seq"] for o in outcomes] == [1, 2, 3]


def test_resending_a_held_segment_answers_held_again(worker: Any, services: Any) -> None:
    worker.push(worker.seal([worker.create()]))
    worker.seal([worker.create()])  # lost
    third = worker.seal([worker.create()])
    assert worker.push(third).json()["status"] == "held"
    assert worker.push(third).json()["status"] == "held"
    assert services.store.backlog_size() == 1


def test_a_held_segment_once_applied_resends_as_its_stored_receipt(worker: Any) -> None:
    worker.push(worker.seal([worker.create()]))
    second = worker.seal([worker.create()])
    third = worker.seal([worker.create()])
    worker.push(third)
    worker.push(second)
    resent = worker.push(third).json()
    assert resent["status"] == "resent"
    assert [o["outcome"] for o in resent["outcomes"]] == ["applied"]


@pytest.mark.parametrize("config_overrides", [{"backlog_force_after_s": 3600}])
def test_a_held_segment_is_force_applied_after_the_period_and_flagged(
    worker: Any, services: Any, clock: Any
) -> None:
    worker.push(worker.seal([worker.create()]))
    worker.seal([worker.create()])  # never arrives
    third = worker.seal([worker.create()])
    assert worker.push(third).json()["status"] == "held"
    clock.now += 1800
    assert services.reconciler.sweep_backlog(clock.now) == 0
    clock.now += 1801
    assert services.reconciler.sweep_backlog(clock.now) == 1
    assert services.store.device(worker.device_id).last_seq == 3
    flags = [row.flags for row in services.store.audit_rows()]
    assert flags == ["", "forced"]
    fourth = worker.push_ops([worker.create()])
    assert fourth["status"] == "applied"


@pytest.mark.parametrize("config_overrides", [{"backlog_force_after_s": 3600}])
def test_the_next_push_after_the_period_forces_the_backlog_too(
    worker: Any, services: Any, clock: Any
) -> None:
    worker.push(worker.seal([worker.create()]))
    worker.seal([worker.create()])
    worker.push(worker.seal([worker.create()]))
    clock.now += 3601
    assert worker.push(worker.seal([worker.create()])).json()["status"] == "held"
    assert services.store.device(worker.device_id).last_seq == 4
    assert services.store.backlog_size() == 0


# --- the wait is measured from when the server first saw a segment (issue 10 item 1) ---------------


@pytest.mark.parametrize("config_overrides", [{"backlog_force_after_s": 3600}])
def test_a_spool_file_with_a_48_hour_old_mtime_waits_the_backlog_period_from_first_sight(
    worker: Any, services: Any, clock: Any, tmp_path: Path
) -> None:
    worker.push(worker.seal([worker.create()]))
    worker.seal([worker.create()])  # arrives later, or never
    spool = tmp_path / "spool"
    spool.mkdir()
    third = spool / "third.seg"
    third.write_bytes(worker.seal([worker.create()]))
    old = clock.now - 48 * 3600
    os.utime(third, (old, old))  # copied with its times kept (cp -p, rsync -a, a USB stick)
    summary = run_ingest(services, spool, progress=False)
    assert summary.segments["held"] == 1 and summary.forced == 0
    assert services.store.device(worker.device_id).last_seq == 1
    clock.now += 3599
    assert services.reconciler.sweep_backlog(clock.now) == 0
    clock.now += 2
    assert services.reconciler.sweep_backlog(clock.now) == 1
    assert services.store.device(worker.device_id).last_seq == 3


@pytest.mark.parametrize("config_overrides", [{"backlog_force_after_s": 3600}])
def test_a_held_segment_seen_again_keeps_the_time_it_was_first_seen(
    worker: Any, services: Any, clock: Any, tmp_path: Path
) -> None:
    worker.push(worker.seal([worker.create()]))
    worker.seal([worker.create()])
    blob = worker.seal([worker.create()])
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "third.seg").write_bytes(blob)
    run_ingest(services, spool, progress=False)
    clock.now += 1800
    assert worker.push(blob).json()["status"] == "held"  # the phone resends it over HTTP
    (spool / "third.seg").write_bytes(blob)  # and the same file is copied in again
    assert run_ingest(services, spool, progress=False).forced == 0
    clock.now += 1801
    assert services.reconciler.sweep_backlog(clock.now) == 1


@pytest.mark.parametrize("config_overrides", [{"backlog_force_after_s": 3600, "apply_mode": "queue"}])
def test_a_segment_queued_over_http_waits_from_its_post_not_from_the_ingest(
    worker: Any, services: Any, clock: Any, tmp_path: Path
) -> None:
    assert worker.push(worker.seal([worker.create()])).json()["status"] == "queued"
    worker.seal([worker.create()])
    assert worker.push(worker.seal([worker.create()])).json()["status"] == "queued"
    clock.now += 3601  # the night's ingest runs an hour after the phone posted
    summary = run_ingest(services, services.config.spool_dir, progress=False)
    assert summary.segments["applied"] == 1 and summary.segments["held"] == 1
    assert services.store.device(worker.device_id).last_seq == 3  # forced at once: it waited an hour
    assert [row.flags for row in services.store.audit_rows()] == ["", "forced"]
    assert {row.received_at for row in services.store.audit_rows()} == {clock.now - 3601}


# --- a late segment after a forced gap, and a true fork (issue 10 item 2) --------------------------


@pytest.mark.parametrize("config_overrides", [{"backlog_force_after_s": 3600}])
def test_a_segment_arriving_after_its_gap_was_forced_is_applied_late_op_by_op(
    worker: Any, services: Any, clock: Any
) -> None:
    case_a, case_b = hex32(), hex32()
    worker.push(worker.seal([worker.create(case_a)]))
    second = worker.seal([worker.create(case_b, category="0102"), worker.note(case_a, "迟到的备注")])
    third = worker.seal([worker.note(case_b, "乙案备注")])
    assert worker.push(third).json()["status"] == "held"
    clock.now += 3601
    assert services.reconciler.sweep_backlog(clock.now) == 1  # forced: its note has no case yet
    late = worker.push(second)
    assert late.status_code == 200, late.text
    receipt = late.json()
    assert receipt["status"] == "applied" and receipt["late"] is True
    assert [o["outcome"] for o in receipt["outcomes"]] == ["applied", "applied"]
    assert services.store.case(case_b) is not None
    assert [n.text for n in services.store.case(case_a).notes] == ["迟到的备注"]
    assert services.store.device(worker.device_id).last_seq == 4  # the chain goes on from the forced one
    assert [row.flags for row in services.store.audit_rows()] == ["", "forced", "late", "late"]
    resent = worker.push(second).json()
    assert (resent["status"], resent["late"], resent["outcomes"]) == ("resent", True, receipt["outcomes"])
    assert worker.push(third).json()["status"] == "resent"
    assert worker.push_ops([worker.note(case_b, "之后")])["status"] == "applied"
    assert not services.store.quarantined()


@pytest.mark.parametrize("config_overrides", [{"backlog_force_after_s": 3600}])
def test_a_late_segment_fills_only_its_part_of_a_forced_gap(worker: Any, services: Any, clock: Any) -> None:
    worker.push(worker.seal([worker.create()]))
    second = worker.seal([worker.create()])
    third = worker.seal([worker.create(), worker.create()])
    fourth = worker.seal([worker.create()])
    worker.push(fourth)
    clock.now += 3601
    services.reconciler.sweep_backlog(clock.now)
    assert worker.push(third).json()["status"] == "applied"
    assert worker.push(second).json()["status"] == "applied"
    assert services.store.device(worker.device_id).last_seq == 5
    assert len(list(services.store.cases())) == 5


def test_the_same_sequence_with_other_content_is_a_fork_that_tells_the_phone_where_to_resume(
    worker: Any, services: Any
) -> None:
    first = worker.seal([worker.create()])
    worker.push(first)
    worker.push(worker.seal([worker.create()]))
    other = worker.seal([worker.create()], first_seq=2, advance=False)
    response = worker.push(other)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "segment.fork"
    assert error["context"] == {"next_seq": 3, "prev_hash": worker.last_hash.hex()}
    assert [q.reason for q in services.store.quarantined()] == ["segment.fork"]


def test_a_segment_that_does_not_chain_is_a_fork_resuming_at_its_own_place(worker: Any) -> None:
    first = worker.seal([worker.create()])
    worker.push(first)
    worker.last_hash = bytes(32)  # a phone restored from an old copy of itself
    response = worker.push(worker.seal([worker.create()]))
    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (409, "segment.fork")
    assert error["context"] == {"next_seq": 2, "prev_hash": segment_hash(first).hex()}
