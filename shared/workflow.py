"""The case workflow (the national 数字城管 closed loop) as one table.

Each action names the states it may start from, the state it leads to, the roles allowed, the
photos it needs and whether a reason is required. Anything not in the table is refused with a
reason code. `docs/protocol.md` prints this table; `tests/shared/test_workflow.py` walks it.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.model import Role, Status

S = Status


@dataclass(frozen=True, slots=True)
class Transition:
    action: str
    sources: frozenset[Status]
    target: Status | None  # None: the status stays (extension requests and decisions)
    roles: frozenset[Role]
    evidence: str = (
        ""  # "" none; a stage name (at least one photo of it); "category": what the category needs
    )
    reason_required: bool = False
    zh: str = ""
    en: str = ""


def _t(
    action: str,
    sources: set[Status],
    target: Status | None,
    roles: set[Role],
    zh: str,
    en: str,
    *,
    evidence: str = "",
    reason: bool = False,
) -> Transition:
    return Transition(action, frozenset(sources), target, frozenset(roles), evidence, reason, zh, en)


SUP = {Role.SUPERVISOR, Role.ADMIN}
HANDLING_SIDE = {Role.HANDLER, Role.SUPERVISOR, Role.ADMIN}

TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        _t("file", {S.REPORTED}, S.DISPATCHED, SUP, "立案派遣", "File and dispatch"),
        _t("reject", {S.REPORTED}, S.REJECTED, SUP, "不予立案", "Reject", reason=True),
        _t("dispatch", {S.DISPATCHED, S.RETURNED}, S.DISPATCHED, SUP, "派遣", "Dispatch"),
        _t("start", {S.DISPATCHED}, S.HANDLING, HANDLING_SIDE, "开始处理", "Start handling"),
        _t(
            "send_back",
            {S.DISPATCHED, S.HANDLING},
            S.RETURNED,
            HANDLING_SIDE,
            "回退",
            "Send back",
            reason=True,
        ),
        _t(
            "request_extension",
            {S.HANDLING},
            None,
            HANDLING_SIDE,
            "申请延期",
            "Ask for extension",
            reason=True,
        ),
        _t("approve_extension", {S.HANDLING}, None, SUP, "批准延期", "Approve extension"),
        _t("deny_extension", {S.HANDLING}, None, SUP, "驳回延期", "Deny extension", reason=True),
        _t(
            "report_back",
            {S.HANDLING},
            S.REPORTED_BACK,
            HANDLING_SIDE,
            "处理反馈",
            "Report back",
            evidence="after",
        ),
        _t(
            "verify",
            {S.REPORTED_BACK},
            S.VERIFIED,
            {Role.WORKER, Role.SUPERVISOR, Role.ADMIN},
            "核查",
            "Verify on site",
            evidence="verification",
        ),
        # Closure: from a verified case, or straight from a report fixed on the spot (当场处置).
        _t(
            "close",
            {S.VERIFIED, S.REPORTED},
            S.CLOSED,
            SUP,
            "批准结案",
            "Approve closure",
            evidence="category",
        ),
        _t(
            "rework",
            {S.REPORTED_BACK, S.VERIFIED},
            S.HANDLING,
            SUP,
            "返工",
            "Send back for rework",
            reason=True,
        ),
        _t("reopen", {S.CLOSED}, S.HANDLING, SUP, "重新打开", "Reopen", reason=True),
        _t(
            "void",
            {S.REPORTED, S.DISPATCHED, S.HANDLING, S.RETURNED, S.REPORTED_BACK, S.VERIFIED},
            S.VOIDED,
            SUP,
            "作废",
            "Void",
            reason=True,
        ),
    )
}

#: link_duplicate is its own op kind but moves the case like a transition.
LINK_DUPLICATE = _t(
    "link_duplicate",
    {S.REPORTED, S.DISPATCHED},
    S.DUPLICATE,
    SUP,
    "合并重复",
    "Link as duplicate",
    reason=False,
)


def _row(action: str) -> Transition | None:
    return LINK_DUPLICATE if action == "link_duplicate" else TRANSITIONS.get(action)


def _startable(t: Transition, status: str, on_spot: bool, extension_pending: bool) -> bool:
    """Whether the case's state lets this move start, whoever asks."""
    if Status(status) not in t.sources:
        return False
    if t.action == "close" and status == Status.REPORTED and not on_spot:
        return False  # only a report fixed on the spot closes straight from reported
    return not (t.action in ("approve_extension", "deny_extension") and not extension_pending)


def check_transition(
    action: str,
    status: str,
    role: Role,
    *,
    photo_counts: dict[str, int],
    evidence_needed: dict[str, int],
    on_spot: bool,
    reason: str,
    extension_pending: bool,
) -> str | None:
    """None if the move is allowed, else the error code that explains why not.

    Checks, in order: known action, source state, role, reason, evidence. The order matters for
    which single reason a worker sees; it is part of the protocol.
    """
    t = _row(action)
    if t is None:
        return "op.bad_field"
    if not _startable(t, status, on_spot, extension_pending):
        return "case.bad_transition"
    if role not in t.roles:
        return "case.not_allowed"
    if t.reason_required and not reason.strip():
        return "case.reason_required"
    if t.evidence == "category":
        needed = dict(evidence_needed)
        if status == Status.REPORTED:  # on the spot: before and after, no separate verification
            needed.pop("verification", None)
            needed["after"] = max(needed.get("after", 0), 1)
        for stage, count in needed.items():
            if photo_counts.get(stage, 0) < count:
                return "case.evidence_missing"
    elif t.evidence and photo_counts.get(t.evidence, 0) < 1:
        return "case.evidence_missing"
    return None


def next_status(action: str, status: str) -> str:
    t = _row(action)
    if t is None or t.target is None:
        return status
    return str(t.target)


def allowed_actions(status: str, role: Role, on_spot: bool, extension_pending: bool) -> list[str]:
    """The moves a person could try now (for the app's buttons; the server re-checks everything)."""
    return [
        t.action
        for t in TRANSITIONS.values()
        if role in t.roles
        and _startable(t, status, on_spot, extension_pending)
        # the server takes a second request (it replaces the first), but offering one is noise
        and not (t.action == "request_extension" and extension_pending)
    ]
