"""Supervisor review of hard conflicts (rule 3): list them, resolve one by keeping or taking.

A resolution made over HTTP or the admin CLI goes through the same rule as a `resolve_conflict` op
from a phone (`shared.rules.apply_op`), and is recorded like one: an op log row that is both the
outcome the supervisor's device reads in its changes feed and the audit row (flag `review`).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from shared.errors import GridsyncError
from shared.model import Actor, Role, case_to_dict
from shared.ops import Op
from shared.rules import APPLIED, apply_op, can_see
from sync_server.city import City
from sync_server.store.base import OpLogRow, Store

HEX32 = re.compile(r"[0-9a-f]{32}")
REVIEWERS = (Role.SUPERVISOR, Role.ADMIN)


def list_conflicts(store: Store, actor: Actor) -> list[dict[str, Any]]:
    if actor.role not in REVIEWERS:
        raise GridsyncError("request.forbidden", "only supervisors review conflicts")
    out = []
    for case in store.cases_with_open_conflicts():
        if not can_see(case, actor):
            continue
        for conflict in case.open_conflicts():
            out.append(
                {"case_id": case.case_id, "case_no": case.case_no, "conflict": _conflict_dict(case, conflict)}
            )
    return out


def _conflict_dict(case: Any, conflict: Any) -> dict[str, Any]:
    full = case_to_dict(case)["conflicts"]
    return next(c for c in full if c["conflict_id"] == conflict.conflict_id)


def resolve_conflict(
    store: Store,
    city: City,
    actor: Actor,
    device_id: str,
    case_id: str,
    conflict_id: str,
    choice: str,
    now: int,
) -> dict[str, Any]:
    """Apply the supervisor's choice; the updated case. Refusals are the rules' codes."""
    if not HEX32.fullmatch(case_id) or not HEX32.fullmatch(conflict_id) or choice not in ("keep", "take"):
        raise GridsyncError(
            "request.malformed", "case and conflict ids are 32 hex digits; choice keep or take"
        )
    if actor.role not in REVIEWERS:
        raise GridsyncError("case.not_allowed", "only supervisors resolve conflicts")
    with store.transaction() as tx:
        case = tx.load_cases([case_id]).get(case_id)
        if case is None or not can_see(case, actor):  # a case you may not see does not exist for you
            raise GridsyncError("case.unknown")
        op = Op(uuid.uuid4().hex, device_id, actor.worker_id, 0, case_id, case.version, now, "resolve_conflict",
                {"conflict_id": conflict_id, "choice": choice})  # fmt: skip
        outcome, new = apply_op(case, op, actor, city.rule_context(now))
        if outcome.outcome != APPLIED or new is None:
            raise GridsyncError(outcome.code or "case.conflict_unknown", outcome.detail)
        seq = tx.reserve_change_seqs(2)
        tx.save_cases([(new, seq)])
        tx.record_resolution(case_id, conflict_id, choice, actor.worker_id, now)
        tx.record_ops([OpLogRow(device_id, 0, op.op_id, actor.worker_id, case_id, op.kind, outcome.outcome, None,
                                outcome.version, outcome.detail, seq + 1, now, now, "review")])  # fmt: skip
    return case_to_dict(new)
