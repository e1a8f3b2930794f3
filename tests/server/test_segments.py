from __future__ import annotations

from typing import Any, cast

from tests.server.conftest import MONDAY_10AM
from tests.server.device import SPOT_A, SPOT_B, hex32


def test_a_segment_is_applied_with_one_outcome_per_op(worker: Any, services: Any) -> None:
    case_id = hex32()
    receipt = worker.push_ops([worker.create(case_id), worker.note(case_id), worker.photo(case_id, "before")])
    assert receipt["status"] == "applied"
    assert (receipt["first_seq"], receipt["last_seq"]) == (1, 3)
    assert [o["outcome"] for o in receipt["outcomes"]] == ["applied"] * 3
    assert [o["version"] for o in receipt["outcomes"]] == [1, 2, 3]
    case = services.store.case(case_id)
    assert case.version == 3 and case.grid_code == "441502001001001" and case.reporter == "zhang.wei"
    assert case.case_no == "2026000001"
    assert services.store.device(worker.device_id).last_seq == 3


def test_case_numbers_count_up_within_the_year(worker: Any, services: Any) -> None:
    ids = [hex32() for _ in range(3)]
    worker.push_ops([worker.create(i) for i in ids])
    assert [services.store.case(i).case_no for i in ids] == ["2026000001", "2026000002", "2026000003"]


def test_a_rejected_op_is_reported_and_changes_nothing(worker: Any, services: Any) -> None:
    case_id = hex32()
    receipt = worker.push_ops([worker.create(case_id), worker.move(case_id, "close")])
    assert receipt["outcomes"][1]["outcome"] == "rejected"
    assert receipt["outcomes"][1]["code"] == "case.bad_transition"
    assert services.store.case(case_id).version == 1


def test_an_op_whose_actor_is_not_the_devices_worker_is_rejected(worker: Any, services: Any) -> None:
    op = worker.create()
    op["actor"] = "chen.sup"
    receipt = worker.push_ops([op])
    assert receipt["outcomes"][0]["code"] == "case.not_allowed"
    assert services.store.case(op["case_id"]) is None


def test_resending_the_same_bytes_returns_the_stored_receipt(worker: Any, services: Any) -> None:
    blob = worker.seal([worker.create(), worker.create()])
    first = worker.push(blob).json()
    again = worker.push(blob)
    assert again.status_code == 200
    assert again.json() == {**first, "status": "resent"}
    assert services.store.change_seq() == 4  # two cases, two outcomes: nothing applied twice


def test_the_same_sequence_with_other_content_is_refused_and_quarantined(worker: Any, services: Any) -> None:
    worker.push(worker.seal([worker.create()]))
    other = worker.seal([worker.create()], first_seq=1)
    response = worker.push(other)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "segment.fork"
    assert [q.reason for q in services.store.quarantined()] == ["segment.fork"]


def test_a_segment_that_does_not_chain_is_a_fork_and_is_quarantined(worker: Any, services: Any) -> None:
    worker.push_ops([worker.create()])
    worker.last_hash = bytes(32)
    response = worker.push(worker.seal([worker.create()]))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "segment.fork"
    assert services.store.device(worker.device_id).last_seq == 1


def test_a_duplicate_link_to_a_case_that_does_not_exist_is_rejected(supervisor: Any, worker: Any) -> None:
    case_id = hex32()
    worker.push_ops([worker.create(case_id)])
    receipt = supervisor.push_ops([supervisor.op("link_duplicate", case_id, {"duplicate_of": hex32()}, 1)])
    assert receipt["outcomes"][0]["code"] == "case.unknown"


def test_a_second_report_nearby_is_suggested_as_a_possible_duplicate(
    worker: Any, enrolled: Any, services: Any
) -> None:
    first, second = hex32(), hex32()
    worker.push_ops([worker.create(first)])
    worker.push_ops([worker.create(second)])
    assert services.store.case(second).possible_duplicates == [first]
    other_category = hex32()
    worker.push_ops([worker.create(other_category, category="0102")])
    assert services.store.case(other_category).possible_duplicates == []


def test_a_new_report_is_offered_the_five_nearest_possible_duplicates_nearest_first(
    worker: Any, enrolled: Any, services: Any
) -> None:
    """Seven earlier reports lie within the radius, stored and in the new one's own segment: a
    supervisor is offered the five nearest, nearest first, not the first ids found."""
    metres_north = [21, 3, 15, 9, 18, 6, 12]  # 1 m of latitude ≈ 1 / 111,195 degree
    ids = [hex32() for _ in metres_north]

    def near(m: int) -> dict[str, Any]:
        return {**SPOT_A, "lat": cast(float, SPOT_A["lat"]) + (m if m % 2 else -m) / 111_195}

    for case_id, m in zip(ids[:4], metres_north[:4], strict=True):
        worker.push_ops([worker.create(case_id, spot=near(m))])
    new = hex32()
    later = [worker.create(c, spot=near(m)) for c, m in zip(ids[4:], metres_north[4:], strict=True)]
    worker.push_ops([*later, worker.create(new)])
    by_distance = [c for _, c in sorted(zip(metres_north, ids, strict=True))]
    assert services.store.case(new).possible_duplicates == by_distance[:5]


def test_reports_moved_or_rejected_earlier_in_the_segment_are_judged_as_they_stand_now(
    supervisor: Any, services: Any
) -> None:
    """Within one segment a case may be suggested, then moved or rejected, before the next report
    nearby: it is offered (or not) as it stands when that report arrives, not as it was created."""
    moved_away, moved_near, rejected, new = hex32(), hex32(), hex32(), hex32()
    near = {**SPOT_A, "lat": cast(float, SPOT_A["lat"]) + 10 / 111_195}
    receipt = supervisor.push_ops([
        supervisor.create(moved_away),
        supervisor.create(moved_near, spot=SPOT_B),
        supervisor.create(rejected, spot=near),
        supervisor.move(rejected, "reject", reason="not a problem"),
        supervisor.edit(moved_near, 1, location=near),
        supervisor.edit(moved_away, 1, location=SPOT_B),
        supervisor.create(new),
    ])  # fmt: skip
    assert [o["outcome"] for o in receipt["outcomes"]] == ["applied"] * 7
    assert services.store.case(rejected).possible_duplicates == [moved_away]  # as it stood then
    assert services.store.case(new).possible_duplicates == [moved_near]


def test_a_report_outside_the_workers_grids_is_rejected(worker: Any) -> None:
    receipt = worker.push_ops([worker.create(spot=SPOT_B)])
    assert receipt["outcomes"][0]["code"] == "case.outside_grid"


def test_the_overdue_sweep_flags_cases_past_their_deadline_in_working_time(
    worker: Any, supervisor: Any, services: Any, clock: Any
) -> None:
    case_id = hex32()
    worker.push_ops([worker.create(case_id)])
    supervisor.push_ops([supervisor.move(case_id, "file")])  # 0101: 2 working hours from Monday 10:00
    deadline = services.store.case(case_id).deadline
    assert deadline == MONDAY_10AM + 2 * 3600  # 12:00, when the lunch break starts
    assert services.reconciler.sweep_overdue(deadline) == 0
    assert services.reconciler.sweep_overdue(deadline + 3600) == 0  # 13:00: lunch is not working time
    before = services.store.change_seq()
    assert services.reconciler.sweep_overdue(MONDAY_10AM + 3 * 3600 + 30 * 60 + 1) == 1  # 13:30:01
    case = services.store.case(case_id)
    assert case.overdue and case.version == 2
    assert services.store.change_seq() == before + 1


def test_a_case_due_friday_evening_is_not_overdue_over_the_weekend(
    worker: Any, supervisor: Any, services: Any, clock: Any
) -> None:
    clock.now = MONDAY_10AM + 4 * 86_400 + 7 * 3600 + 30 * 60  # Friday 17:30, half an hour before 18:00
    case_id = hex32()
    worker.push_ops([worker.create(case_id)])
    supervisor.push_ops([supervisor.move(case_id, "file")])  # due Monday 10:00 (2 working hours)
    saturday = MONDAY_10AM + 5 * 86_400
    assert services.reconciler.sweep_overdue(saturday) == 0
    next_monday = MONDAY_10AM + 7 * 86_400
    assert services.reconciler.sweep_overdue(next_monday) == 0
    assert services.reconciler.sweep_overdue(next_monday + 1) == 1
