"""The rules derive a case's place and count its evidence themselves (issue 10, items 6 and 7).

A case's grid is always the grid index's answer for its location, never a phone's claim; closure and
verification count only photos whose blobs are complete on the server when the server says which.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.rules import APPLIED, OUTSIDE_EVERY_GRID, REJECTED, apply_op
from tests.shared.factories import (
    ADMIN,
    BEIJING,
    DEV_1,
    DEV_2,
    DEV_SUP,
    GRID_A,
    GRID_B,
    HANDLER,
    PLACE,
    SUPERVISOR,
    WORKER,
    WORKER_2,
    OpMaker,
    ctx,
    locate,
    new_id,
)

NO_SUCH_GRID = "441502999999999"


def _reported(grid: str = GRID_A):
    dev = OpMaker(DEV_1, WORKER.worker_id)
    outcome, case = apply_op(None, dev.create(new_id(), grid=grid), WORKER, ctx())
    assert outcome.outcome == APPLIED and case is not None
    return case


# --- item 6: the grid follows the location -------------------------------------------------------


def test_an_edit_naming_another_grid_is_refused_and_the_case_stays_in_its_grid():
    case = _reported()
    other = OpMaker(DEV_2, WORKER_2.worker_id)  # another worker of grid A
    outcome, new = apply_op(case, other.edit(case.case_id, 1, grid_code=GRID_B), WORKER_2, ctx())
    assert (outcome.outcome, outcome.code, new) == (REJECTED, "case.grid_derived", None)
    assert case.grid_code == GRID_A


def test_an_edit_naming_a_grid_that_does_not_exist_is_refused_even_for_a_supervisor():
    case = _reported()
    sup = OpMaker(DEV_SUP, SUPERVISOR.worker_id)
    outcome, new = apply_op(case, sup.edit(case.case_id, 1, grid_code=NO_SUCH_GRID), SUPERVISOR, ctx())
    assert (outcome.code, new) == ("case.grid_derived", None)


def test_a_worker_moving_a_case_outside_every_grid_is_refused():
    case = _reported()
    dev = OpMaker(DEV_1, WORKER.worker_id)
    outcome, new = apply_op(case, dev.edit(case.case_id, 1, location=BEIJING), WORKER, ctx())
    assert (outcome.outcome, outcome.code, new) == (REJECTED, "case.no_grid", None)


def test_a_worker_moving_a_case_into_a_grid_they_do_not_cover_is_refused():
    case = _reported()
    dev = OpMaker(DEV_1, WORKER.worker_id)
    outcome, new = apply_op(case, dev.edit(case.case_id, 1, location=PLACE[GRID_B]), WORKER, ctx())
    assert (outcome.code, new) == ("case.outside_grid", None)


def test_a_location_edit_within_the_workers_grids_moves_nothing_else():
    case = _reported()
    dev = OpMaker(DEV_1, WORKER.worker_id)
    moved = {**PLACE[GRID_A], "lat": 22.787}
    outcome, new = apply_op(case, dev.edit(case.case_id, 1, location=moved), WORKER, ctx())
    assert outcome.outcome == APPLIED and new is not None
    assert (new.grid_code, new.location.lat) == (GRID_A, 22.787)


def test_a_supervisor_moving_a_case_takes_the_grid_of_the_new_place():
    case = _reported()
    sup = OpMaker(DEV_SUP, SUPERVISOR.worker_id)
    outcome, new = apply_op(case, sup.edit(case.case_id, 1, location=PLACE[GRID_B]), SUPERVISOR, ctx())
    assert outcome.outcome == APPLIED and new is not None and new.grid_code == GRID_B


def test_a_supervisor_may_place_a_case_outside_every_grid_and_it_is_said_in_the_outcome():
    case = _reported()
    sup = OpMaker(DEV_SUP, SUPERVISOR.worker_id)
    outcome, new = apply_op(case, sup.edit(case.case_id, 1, location=BEIJING), SUPERVISOR, ctx())
    assert (outcome.outcome, outcome.detail) == (APPLIED, OUTSIDE_EVERY_GRID)
    assert new is not None and new.grid_code == ""


def test_a_report_located_outside_every_grid_is_refused_for_a_worker_whatever_grid_it_names():
    dev = OpMaker(DEV_1, WORKER.worker_id)
    outcome, new = apply_op(None, dev.create(new_id(), grid=GRID_A, place=BEIJING), WORKER, ctx())
    assert (outcome.outcome, outcome.code, new) == (REJECTED, "case.no_grid", None)


def test_a_report_takes_the_grid_of_its_place_not_the_grid_it_names():
    dev = OpMaker(DEV_1, WORKER.worker_id)
    outcome, _ = apply_op(None, dev.create(new_id(), grid=GRID_A, place=PLACE[GRID_B]), WORKER, ctx())
    assert outcome.code == "case.outside_grid"
    sup = OpMaker(DEV_SUP, SUPERVISOR.worker_id)
    outcome, case = apply_op(None, sup.create(new_id(), grid=GRID_A, place=PLACE[GRID_B]), SUPERVISOR, ctx())
    assert outcome.outcome == APPLIED and case is not None and case.grid_code == GRID_B


def test_a_supervisors_report_outside_every_grid_has_no_grid_and_says_so():
    sup = OpMaker(DEV_SUP, SUPERVISOR.worker_id)
    outcome, case = apply_op(None, sup.create(new_id(), grid=GRID_A, place=BEIJING), SUPERVISOR, ctx())
    assert (outcome.outcome, outcome.detail) == (APPLIED, OUTSIDE_EVERY_GRID)
    assert case is not None and case.grid_code == ""


def test_without_a_grid_index_no_place_is_in_a_grid():
    dev = OpMaker(DEV_1, WORKER.worker_id)
    bare = ctx()
    no_index = type(bare)(bare.now, bare.categories, bare.calendar, None)
    outcome, _ = apply_op(None, dev.create(new_id(), grid=GRID_A), WORKER, no_index)
    assert outcome.code == "case.no_grid"


# --- item 7: evidence counts only when it arrived ------------------------------------------------

AFTER, VERIFICATION, BEFORE = "af" * 32, "ae" * 32, "be" * 32


def _verified_case():
    """A case filed, handled, reported back with an after photo and verified with a verification
    photo; the photos' blobs are named by their sha256 (AFTER, VERIFICATION, BEFORE)."""
    worker, sup, handler = (
        OpMaker(DEV_1, WORKER.worker_id),
        OpMaker(DEV_SUP, SUPERVISOR.worker_id),
        OpMaker(DEV_2, HANDLER.worker_id),
    )
    _, case = apply_op(None, worker.create(new_id()), WORKER, ctx())
    steps = [
        (worker.photo(case.case_id, "before", BEFORE), WORKER),
        (sup.move(case.case_id, "file"), SUPERVISOR),
        (handler.move(case.case_id, "start"), HANDLER),
        (handler.photo(case.case_id, "after", AFTER), HANDLER),
        (handler.move(case.case_id, "report_back"), HANDLER),
        (worker.photo(case.case_id, "verification", VERIFICATION), WORKER),
    ]
    for op, actor in steps:
        outcome, case = apply_op(case, op, actor, ctx())
        assert outcome.outcome == APPLIED, outcome
    return worker, sup, case


def test_verification_needs_its_photo_on_the_server():
    worker, _, case = _verified_case()
    verify = worker.move(case.case_id, "verify")
    outcome, new = apply_op(case, verify, WORKER, ctx(arrived=frozenset({AFTER, BEFORE})))
    assert (outcome.outcome, outcome.code, new) == (REJECTED, "case.verification_not_arrived", None)
    outcome, _ = apply_op(case, verify, WORKER, ctx(arrived=frozenset({AFTER, BEFORE, VERIFICATION})))
    assert outcome.outcome == APPLIED


def test_closure_is_refused_until_the_after_photo_has_arrived():
    worker, sup, case = _verified_case()
    _, case = apply_op(case, worker.move(case.case_id, "verify"), WORKER, ctx())
    close = sup.move(case.case_id, "close")
    outcome, new = apply_op(case, close, SUPERVISOR, ctx(arrived=frozenset({BEFORE, VERIFICATION})))
    assert (outcome.outcome, outcome.code, new) == (REJECTED, "case.after_not_arrived", None)
    everything = frozenset({BEFORE, AFTER, VERIFICATION})
    outcome, new = apply_op(case, close, SUPERVISOR, ctx(arrived=everything))
    assert outcome.outcome == APPLIED and new is not None and new.status == "closed"


def test_a_claim_with_no_photo_at_all_is_still_evidence_missing():
    worker = OpMaker(DEV_1, WORKER.worker_id)
    _, case = apply_op(None, worker.create(new_id(), on_spot=True), WORKER, ctx())
    admin = OpMaker(DEV_SUP, ADMIN.worker_id)
    outcome, _ = apply_op(case, admin.move(case.case_id, "close"), ADMIN, ctx(arrived=frozenset()))
    assert outcome.code == "case.evidence_missing"


def test_the_phone_not_knowing_what_arrived_counts_every_claim():
    worker, sup, case = _verified_case()
    _, case = apply_op(case, worker.move(case.case_id, "verify"), WORKER, ctx())
    outcome, _ = apply_op(case, sup.move(case.case_id, "close"), SUPERVISOR, ctx(arrived=None))
    assert outcome.outcome == APPLIED


# --- any sequence of reports and moves, by anyone, to anywhere ----------------------------------

_PLACES = st.one_of(
    st.sampled_from([PLACE[GRID_A], PLACE[GRID_B], BEIJING]),
    st.builds(
        lambda lat, lon: {"lat": lat, "lon": lon, "accuracy_m": 5.0, "source": "manual"},
        st.floats(22.775, 22.795),
        st.floats(115.355, 115.385),
    ),
)
_NAMED_GRIDS = st.sampled_from([GRID_A, GRID_B, NO_SUCH_GRID, ""])
_PEOPLE = st.sampled_from([(DEV_1, WORKER), (DEV_2, WORKER_2), (DEV_SUP, SUPERVISOR), (DEV_SUP, ADMIN)])


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["create", "move", "name_grid", "resolve"]), _PEOPLE, _PLACES, _NAMED_GRIDS
        ),
        min_size=1,
        max_size=25,
    )
)
def test_whatever_anyone_does_a_cases_grid_is_its_places_grid_and_a_workers_cases_stay_in_their_grids(steps):
    case = None
    for kind, (device, actor), place, named in steps:
        maker = OpMaker(device, actor.worker_id)
        if kind == "create" or case is None:
            op = maker.create(new_id(), grid=named or GRID_A, place=place)
        elif kind == "move":
            op = maker.edit(case.case_id, case.version, location=place)
        elif kind == "name_grid":
            op = maker.edit(case.case_id, case.version, grid_code=named)
        else:
            open_ones = case.open_conflicts()
            if not open_ones:
                continue
            op = maker.make(
                "resolve_conflict", case.case_id, {"conflict_id": open_ones[0].conflict_id, "choice": "take"}
            )
        outcome, new = apply_op(None if op.kind == "create" else case, op, actor, ctx())
        if new is None:
            continue
        derived = locate(new.location.lat, new.location.lon)
        assert new.grid_code == (derived or "")
        if actor.role.value == "worker" and outcome.outcome != "hard_conflict":
            assert actor.covers_grid(new.grid_code), (kind, place, new.grid_code)
        if op.kind == "create" or case is None or new.case_id == case.case_id:
            case = new
