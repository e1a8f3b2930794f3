"""Scenario tests for the conflict rules (brief rules 2-7), named as sentences."""

from __future__ import annotations

import copy
import math

from hypothesis import given
from hypothesis import strategies as st

from shared.geo import haversine_m
from shared.model import Status, case_to_dict
from shared.rules import (
    APPLIED,
    DUPLICATE,
    DUPLICATE_RADIUS_M,
    HARD,
    REJECTED,
    SOFT,
    apply_op,
    could_duplicate,
    duplicate_distance_m,
    is_possible_duplicate,
)
from tests.shared.factories import (
    ADMIN,
    DEV_1,
    DEV_2,
    DEV_SUP,
    GRID_B,
    HANDLER,
    NOW,
    OTHER_HANDLER,
    OUTSIDER,
    SUPERVISOR,
    WORKER,
    WORKER_2,
    OpMaker,
    ctx,
    new_id,
)


def reported_case(on_spot: bool = False):
    dev = OpMaker(DEV_1, WORKER.worker_id)
    case_id = new_id()
    outcome, case = apply_op(None, dev.create(case_id, on_spot=on_spot), WORKER, ctx())
    assert outcome.outcome == APPLIED and case is not None
    return dev, case


def run(case, op, actor, now=NOW):
    outcome, new = apply_op(case, op, actor, ctx(now))
    return outcome, (new if new is not None else case)


def test_create_gives_version_one_and_records_reporter_and_grid():
    _, case = reported_case()
    assert case.version == 1
    assert case.status == Status.REPORTED
    assert case.reporter == WORKER.worker_id
    assert case.grid_code == "441502001001001"
    assert case.timeline[0].outcome == APPLIED


def test_report_outside_the_workers_grids_is_rejected():
    dev = OpMaker(DEV_1, WORKER.worker_id)
    outcome, case = apply_op(None, dev.create(new_id(), grid=GRID_B), WORKER, ctx())
    assert (outcome.outcome, outcome.code, case) == (REJECTED, "case.outside_grid", None)


def test_handler_cannot_report_a_new_case():
    dev = OpMaker(DEV_1, HANDLER.worker_id)
    outcome, _ = apply_op(None, dev.create(new_id()), HANDLER, ctx())
    assert outcome.code == "case.not_allowed"


def test_unknown_category_is_rejected():
    dev = OpMaker(DEV_1, WORKER.worker_id)
    outcome, _ = apply_op(None, dev.create(new_id(), category="9999"), WORKER, ctx())
    assert outcome.code == "case.unknown_category"


def test_create_seen_twice_is_a_duplicate_not_a_second_case():
    dev = OpMaker(DEV_1, WORKER.worker_id)
    op = dev.create(new_id())
    _, case = apply_op(None, op, WORKER, ctx())
    outcome, again = apply_op(case, op, WORKER, ctx())
    assert outcome.outcome == DUPLICATE and again is None


def test_another_case_with_the_same_id_is_refused():
    _, case = reported_case()
    other = OpMaker(DEV_2, WORKER_2.worker_id)
    outcome, _ = apply_op(case, other.create(case.case_id), WORKER_2, ctx())
    assert outcome.code == "case.exists"


def test_edit_on_a_fresh_base_applies_and_bumps_the_version():
    dev, case = reported_case()
    outcome, case = run(case, dev.edit(case.case_id, 1, description="两个井盖"), WORKER)
    assert outcome.outcome == APPLIED
    assert case.description == "两个井盖" and case.version == 2


def test_stale_base_without_overlapping_fields_applies_as_a_soft_conflict():
    dev, case = reported_case()
    other = OpMaker(DEV_2, WORKER_2.worker_id)
    _, case = run(case, other.edit(case.case_id, 1, address="人民路 12 号"), WORKER_2)
    outcome, case = run(case, dev.edit(case.case_id, 1, description="两个井盖"), WORKER)
    assert outcome.outcome == SOFT
    assert case.description == "两个井盖" and case.address == "人民路 12 号"
    assert not case.hard_conflict


def test_two_people_setting_one_field_differently_is_a_hard_conflict_and_the_first_value_stands():
    dev, case = reported_case()
    other = OpMaker(DEV_2, WORKER_2.worker_id)
    _, case = run(case, other.edit(case.case_id, 1, description="井盖缺失"), WORKER_2)
    outcome, case = run(case, dev.edit(case.case_id, 1, description="井盖破损严重"), WORKER)
    assert outcome.outcome == HARD
    assert case.description == "井盖缺失"
    assert case.hard_conflict
    conflict = case.open_conflicts()[0]
    assert (conflict.field, conflict.kept, conflict.proposed) == ("description", "井盖缺失", "井盖破损严重")


def test_same_value_from_two_people_is_not_a_conflict():
    dev, case = reported_case()
    other = OpMaker(DEV_2, WORKER_2.worker_id)
    _, case = run(case, other.edit(case.case_id, 1, description="同一描述"), WORKER_2)
    outcome, case = run(case, dev.edit(case.case_id, 1, description="同一描述"), WORKER)
    assert outcome.outcome == APPLIED and not case.hard_conflict


def test_a_device_editing_its_own_field_twice_offline_never_conflicts_with_itself():
    dev, case = reported_case()
    _, case = run(case, dev.edit(case.case_id, 1, description="第一次"), WORKER)
    outcome, case = run(case, dev.edit(case.case_id, 1, description="第二次"), WORKER)
    assert outcome.outcome == APPLIED and case.description == "第二次"


def test_supervisor_resolving_a_conflict_by_taking_the_proposed_value_clears_the_flag():
    dev, case = reported_case()
    other = OpMaker(DEV_2, WORKER_2.worker_id)
    _, case = run(case, other.edit(case.case_id, 1, description="甲"), WORKER_2)
    _, case = run(case, dev.edit(case.case_id, 1, description="乙"), WORKER)
    sup = OpMaker(DEV_SUP, SUPERVISOR.worker_id)
    conflict_id = case.open_conflicts()[0].conflict_id
    outcome, case = run(
        case,
        sup.make("resolve_conflict", case.case_id, {"conflict_id": conflict_id, "choice": "take"}),
        SUPERVISOR,
    )
    assert outcome.outcome == APPLIED
    assert case.description == "乙" and not case.hard_conflict and case.conflicts[0].resolution == "take"


def test_a_worker_cannot_resolve_a_conflict():
    dev, case = reported_case()
    op = dev.make("resolve_conflict", case.case_id, {"conflict_id": new_id(), "choice": "keep"})
    outcome, _ = run(case, op, WORKER)
    assert outcome.code == "case.not_allowed"


def walk_to_verified():
    dev, case = reported_case()
    sup = OpMaker(DEV_SUP, SUPERVISOR.worker_id)
    hand = OpMaker(DEV_2, HANDLER.worker_id)
    for op, actor in [
        (dev.photo(case.case_id, "before"), WORKER),
        (sup.move(case.case_id, "file"), SUPERVISOR),
        (hand.move(case.case_id, "start"), HANDLER),
        (hand.photo(case.case_id, "after"), HANDLER),
        (hand.move(case.case_id, "report_back"), HANDLER),
        (dev.photo(case.case_id, "verification"), WORKER),
        (dev.move(case.case_id, "verify"), WORKER),
    ]:
        outcome, case = run(case, op, actor)
        assert outcome.outcome == APPLIED, (op.kind, op.payload, outcome)
    return dev, sup, hand, case


def test_filing_dispatches_to_the_categorys_department_with_a_working_time_deadline():
    _dev, case = reported_case()
    sup = OpMaker(DEV_SUP, SUPERVISOR.worker_id)
    _, case = run(case, sup.move(case.case_id, "file"), SUPERVISOR)
    assert case.status == Status.DISPATCHED and case.department == "municipal"
    # 10:00 + 4 working hours: 10-12 (2 h), lunch 12:00-13:30, 13:30-15:30 (2 h)
    assert case.deadline == NOW + 5 * 3600 + 30 * 60


def test_the_full_loop_closes_only_with_a_supervisors_approval():
    dev, sup, _, case = walk_to_verified()
    outcome, _ = run(case, dev.move(case.case_id, "close"), WORKER)
    assert outcome.code == "case.not_allowed"
    outcome, case = run(case, sup.move(case.case_id, "close"), SUPERVISOR)
    assert outcome.outcome == APPLIED and case.status == Status.CLOSED and case.closed_at == NOW


def test_reporting_back_without_an_after_photo_is_refused_with_evidence_missing():
    _dev, case = reported_case()
    sup = OpMaker(DEV_SUP, SUPERVISOR.worker_id)
    hand = OpMaker(DEV_2, HANDLER.worker_id)
    _, case = run(case, sup.move(case.case_id, "file"), SUPERVISOR)
    _, case = run(case, hand.move(case.case_id, "start"), HANDLER)
    before = case_to_dict(case)
    outcome, new = apply_op(case, hand.move(case.case_id, "report_back"), HANDLER, ctx())
    assert outcome.code == "case.evidence_missing" and new is None
    assert case_to_dict(case) == before


def test_a_handler_of_another_department_cannot_start_the_case():
    _dev, case = reported_case()
    sup = OpMaker(DEV_SUP, SUPERVISOR.worker_id)
    _, case = run(case, sup.move(case.case_id, "file"), SUPERVISOR)
    outcome, _ = run(case, OpMaker(DEV_2, OTHER_HANDLER.worker_id).move(case.case_id, "start"), OTHER_HANDLER)
    assert outcome.code == "case.not_allowed"


def test_rework_needs_a_reason_and_counts():
    _dev, sup, _, case = walk_to_verified()
    outcome, _ = run(case, sup.move(case.case_id, "rework"), SUPERVISOR)
    assert outcome.code == "case.reason_required"
    outcome, case = run(case, sup.move(case.case_id, "rework", reason="井盖未固定"), SUPERVISOR)
    assert case.status == Status.HANDLING and case.reworks == 1


def test_edit_arriving_after_closure_becomes_hard_conflict():
    dev, sup, _, case = walk_to_verified()
    _, case = run(case, sup.move(case.case_id, "close"), SUPERVISOR)
    outcome, case = run(case, dev.edit(case.case_id, 1, description="其实还有一个"), WORKER)
    assert outcome.outcome == HARD
    assert case.status == Status.CLOSED and case.description == "井盖破损"
    assert case.hard_conflict and case.open_conflicts()[0].proposed == "其实还有一个"


def test_notes_and_photos_still_append_to_a_closed_case():
    dev, sup, _, case = walk_to_verified()
    _, case = run(case, sup.move(case.case_id, "close"), SUPERVISOR)
    outcome, case = run(case, dev.note(case.case_id), WORKER)
    assert outcome.outcome == APPLIED and len(case.notes) == 1 and case.status == Status.CLOSED


def test_the_same_note_twice_is_merged_by_id():
    dev, case = reported_case()
    note = dev.note(case.case_id)
    _, case = run(case, note, WORKER)
    again = dev.make("note", case.case_id, dict(note.payload))
    outcome, case = run(case, again, WORKER)
    assert outcome.outcome == DUPLICATE and len(case.notes) == 1


def test_a_voided_case_refuses_field_edits():
    dev, case = reported_case()
    sup = OpMaker(DEV_SUP, SUPERVISOR.worker_id)
    _, case = run(case, sup.move(case.case_id, "void", reason="误报"), SUPERVISOR)
    outcome, _ = run(case, dev.edit(case.case_id, case.version, description="x"), WORKER)
    assert outcome.code == "case.frozen"


def test_fixed_on_the_spot_closes_from_reported_with_before_and_after_photos():
    dev, case = reported_case(on_spot=True)
    sup = OpMaker(DEV_SUP, SUPERVISOR.worker_id)
    outcome, _ = run(case, sup.move(case.case_id, "close"), SUPERVISOR)
    assert outcome.code == "case.evidence_missing"
    _, case = run(case, dev.photo(case.case_id, "before"), WORKER)
    _, case = run(case, dev.photo(case.case_id, "after"), WORKER)
    outcome, case = run(case, sup.move(case.case_id, "close"), SUPERVISOR)
    assert outcome.outcome == APPLIED and case.status == Status.CLOSED


def test_a_normal_report_cannot_be_closed_straight_from_reported():
    dev, case = reported_case()
    _, case = run(case, dev.photo(case.case_id, "before"), WORKER)
    _, case = run(case, dev.photo(case.case_id, "after"), WORKER)
    outcome, _ = run(case, OpMaker(DEV_SUP, SUPERVISOR.worker_id).move(case.case_id, "close"), SUPERVISOR)
    assert outcome.code == "case.bad_transition"


def test_extension_approved_moves_the_deadline_by_working_hours():
    _dev, case = reported_case()
    sup = OpMaker(DEV_SUP, SUPERVISOR.worker_id)
    hand = OpMaker(DEV_2, HANDLER.worker_id)
    _, case = run(case, sup.move(case.case_id, "file"), SUPERVISOR)
    _, case = run(case, hand.move(case.case_id, "start"), HANDLER)
    outcome, _ = run(case, sup.move(case.case_id, "approve_extension"), SUPERVISOR)
    assert outcome.code == "case.bad_transition"  # nothing requested yet
    _, case = run(case, hand.move(case.case_id, "request_extension", reason="等配件", hours=8), HANDLER)
    deadline = case.deadline
    outcome, case = run(case, sup.move(case.case_id, "approve_extension"), SUPERVISOR)
    assert outcome.outcome == APPLIED and case.extensions == 1 and case.extension_hours is None
    assert deadline is not None and case.deadline is not None and case.deadline - deadline >= 8 * 3600


def test_overdue_is_a_flag_computed_from_the_deadline():
    dev, case = reported_case()
    sup = OpMaker(DEV_SUP, SUPERVISOR.worker_id)
    _, case = run(case, sup.move(case.case_id, "file"), SUPERVISOR)
    assert not case.overdue
    _, case = run(case, dev.note(case.case_id), WORKER, now=NOW + 3 * 86400)
    assert case.overdue and case.status == Status.DISPATCHED


def test_a_worker_outside_the_grid_cannot_touch_the_case():
    _, case = reported_case()
    outcome, _ = run(case, OpMaker(DEV_2, OUTSIDER.worker_id).note(case.case_id), OUTSIDER)
    assert outcome.code == "case.outside_grid"


def test_linking_a_duplicate_is_a_supervisors_move():
    dev, case = reported_case()
    target = new_id()
    outcome, _ = run(case, dev.make("link_duplicate", case.case_id, {"duplicate_of": target}), WORKER)
    assert outcome.code == "case.not_allowed"
    sup = OpMaker(DEV_SUP, SUPERVISOR.worker_id)
    outcome, case = run(case, sup.make("link_duplicate", case.case_id, {"duplicate_of": target}), SUPERVISOR)
    assert case.status == Status.DUPLICATE and case.duplicate_of == target


def test_admin_can_see_and_void_anything():
    _, case = reported_case()
    outcome, case = run(
        case, OpMaker(DEV_SUP, ADMIN.worker_id).move(case.case_id, "void", reason="测试"), ADMIN
    )
    assert outcome.outcome == APPLIED and case.status == Status.VOIDED


def test_ops_on_an_unknown_case_are_rejected():
    dev = OpMaker(DEV_1, WORKER.worker_id)
    outcome, _ = apply_op(None, dev.note(new_id()), WORKER, ctx())
    assert outcome.code == "case.unknown"


def test_possible_duplicates_are_same_category_within_fifty_metres_and_a_day():
    _, a = reported_case()
    _, b = reported_case()
    assert is_possible_duplicate(a, b)
    far = copy.deepcopy(b)
    assert far.location is not None
    far.location.lat += 0.001  # ~111 m north
    assert not is_possible_duplicate(a, far)
    later = copy.deepcopy(b)
    later.reported_at += 2 * 86400
    assert not is_possible_duplicate(a, later)


@given(
    lat=st.floats(-79.0, 79.0),
    lon=st.floats(-179.0, 179.0),
    d_lat_m=st.floats(-60.0, 60.0),
    d_lon_m=st.floats(-60.0, 60.0),
)
def test_a_possible_duplicate_has_its_distance_and_no_other_case_has_one(
    lat: float, lon: float, d_lat_m: float, d_lon_m: float
) -> None:
    """`duplicate_distance_m` orders suggestions: it answers exactly when the rule says "possible
    duplicate", and its metres are the haversine's to within 0.01 %."""
    other_lat = lat + d_lat_m / 111_195
    other_lon = lon + d_lon_m / (111_195 * math.cos(math.radians(lat)))
    args = ("0101", lat, lon, 1000, "0101", "reported", other_lat, other_lon, 1000)
    distance = duplicate_distance_m(*args)
    assert (distance is not None) == could_duplicate(*args)
    metres = haversine_m(lat, lon, other_lat, other_lon)
    assert (distance is not None) == (metres <= DUPLICATE_RADIUS_M)
    if distance is not None:
        assert abs(distance - metres) <= 1e-4 * max(metres, 1.0)
