"""Rule 1: segments after a gap wait in the backlog, and are applied in order when the gap fills."""

from __future__ import annotations

from typing import Any

import pytest

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
