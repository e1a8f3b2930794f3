"""The workflow table: every (action, status, role) is allowed exactly when the table says so."""

from __future__ import annotations

import itertools

import pytest

from shared.model import Role, Status
from shared.ops import ACTIONS
from shared.workflow import TRANSITIONS, allowed_actions, check_transition, next_status

PLENTY = {"before": 3, "after": 3, "verification": 3}
NEEDS = {"before": 1, "after": 1, "verification": 1}


def check(action, status, role, **kw):
    args = {
        "photo_counts": PLENTY,
        "evidence_needed": NEEDS,
        "on_spot": False,
        "reason": "因为",
        "extension_pending": True,
    }
    args.update(kw)
    return check_transition(action, status, role, **args)


def test_every_wire_action_has_a_row_in_the_table():
    assert set(ACTIONS) == set(TRANSITIONS)


@pytest.mark.parametrize(
    ("action", "status", "role"), list(itertools.product(TRANSITIONS, list(Status), list(Role)))
)
def test_a_move_is_allowed_exactly_when_the_table_allows_it(action, status, role):
    row = TRANSITIONS[action]
    expected = status in row.sources and role in row.roles
    if action == "close" and status == Status.REPORTED:
        expected = False  # only on-the-spot reports close from reported
    assert (check(action, status, role) is None) == expected


def test_the_refusal_says_why_in_a_fixed_order():
    assert check("close", "dispatched", Role.WORKER) == "case.bad_transition"
    assert check("close", "verified", Role.WORKER) == "case.not_allowed"
    assert check("rework", "verified", Role.SUPERVISOR, reason=" ") == "case.reason_required"
    assert (
        check("close", "verified", Role.SUPERVISOR, photo_counts={"before": 1, "after": 1})
        == "case.evidence_missing"
    )


def test_on_the_spot_closure_needs_before_and_after_but_no_verification_photo():
    counts = {"before": 1, "after": 1, "verification": 0}
    assert check("close", "reported", Role.SUPERVISOR, on_spot=True, photo_counts=counts) is None
    assert (
        check("close", "reported", Role.SUPERVISOR, on_spot=True, photo_counts={"before": 1})
        == "case.evidence_missing"
    )


def test_extension_decisions_need_a_pending_request():
    assert (
        check("approve_extension", "handling", Role.SUPERVISOR, extension_pending=False)
        == "case.bad_transition"
    )


def test_allowed_actions_agree_with_check_transition():
    for status, role in itertools.product(list(Status), list(Role)):
        for action in allowed_actions(status, role, on_spot=False, extension_pending=False):
            assert check(action, status, role, extension_pending=False) is None


def test_requests_and_decisions_about_extensions_keep_the_status():
    assert next_status("request_extension", "handling") == "handling"
    assert next_status("close", "verified") == "closed"
