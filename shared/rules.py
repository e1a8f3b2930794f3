"""The conflict rules: one op against the current case → an outcome and the new case.

Pure and deterministic: the same case, op, actor and context always give the same result. The
server calls `apply_op` for every op in per-device sequence order; the phone calls it to update its
optimistic local view. Rule numbers refer to the brief and to docs/conflict-rules.md.

Hard conflict tie-break (rule 3): **the value already on the server stands**; the proposed value is
kept in a `Conflict` record on the case and the case is flagged for supervisor review. A supervisor
resolves it with a `resolve_conflict` op ("keep" the standing value or "take" the proposed one).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.catalogue import Category
from shared.geo import EARTH_RADIUS_M, haversine_m
from shared.model import (
    ENDED,
    STAGES,
    Actor,
    Case,
    Conflict,
    Location,
    Note,
    Photo,
    Role,
    Status,
    TimelineEntry,
    copy_case,
)
from shared.ops import Op
from shared.workflow import check_transition, next_status
from shared.worktime import WorkCalendar

APPLIED = "applied"
SOFT = "soft_conflict"
HARD = "hard_conflict"
REJECTED = "rejected"
DUPLICATE = "duplicate"
OUTCOMES = (APPLIED, SOFT, HARD, REJECTED, DUPLICATE)

DUPLICATE_RADIUS_M = 50.0
DUPLICATE_WINDOW_S = 24 * 3600


@dataclass(frozen=True, slots=True)
class RuleContext:
    now: int  # the server's apply time (or the phone's, for its optimistic view)
    categories: Mapping[str, Category] = field(default_factory=dict)
    calendar: WorkCalendar | None = None
    #: lat, lon → the grid holding it, or None (`shared.geo.grid_of` over the city's grid index).
    #: The only source of a case's grid; without it no place is inside any grid.
    locate: Callable[[float, float], str | None] | None = None
    #: The sha256 of the photo blobs complete on the server, for the cases the ops touch; closure and
    #: verification count only these. None: not known (the phone's optimistic view counts every
    #: photo claim; the server always passes a set and decides).
    arrived: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    op_id: str
    seq: int
    case_id: str
    outcome: str
    code: str | None = None  # the error catalogue code for rejected ops
    version: int | None = None  # the case version after this op
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "op_id": self.op_id,
            "seq": self.seq,
            "case_id": self.case_id,
            "outcome": self.outcome,
            "code": self.code,
            "version": self.version,
            "detail": self.detail,
        }


def _reject(op: Op, code: str, detail: str = "") -> tuple[Outcome, None]:
    return Outcome(op.op_id, op.seq, op.case_id, REJECTED, code, None, detail), None


# --- who may act on a case -----------------------------------------------------------------------


def can_see(case: Case, actor: Actor) -> bool:
    """Whether this person may see the case at all (the changes feed uses this too)."""
    if actor.role is Role.ADMIN:
        return True
    if actor.role is Role.HANDLER:
        return (case.department is not None and case.department == actor.department) or (
            case.handler == actor.worker_id
        )
    return actor.covers_grid(case.grid_code) or case.reporter == actor.worker_id


def _authority(case: Case, op: Op, actor: Actor) -> str | None:
    if not can_see(case, actor):
        return "case.outside_grid" if actor.role in (Role.WORKER, Role.SUPERVISOR) else "case.not_allowed"
    if op.kind == "edit" and actor.role is Role.HANDLER:
        return "case.not_allowed"
    if op.kind in ("link_duplicate", "resolve_conflict") and actor.role not in (Role.SUPERVISOR, Role.ADMIN):
        return "case.not_allowed"
    return None


# --- where a case is ---------------------------------------------------------------------------


#: A supervisor's (or admin's) placement outside every grid: applied, and said so in the audit.
OUTSIDE_EVERY_GRID = "outside every grid"


def grid_at(ctx: RuleContext, location: Location) -> str | None:
    """The grid a location lies in, derived by the city's grid index (never a phone's claim)."""
    return ctx.locate(location.lat, location.lon) if ctx.locate is not None else None


def placement_refusal(actor: Actor, grid: str | None) -> str | None:
    """Whether this person may put a case at a place in `grid` (None: outside every grid).

    Workers need a grid they cover (`case.outside_grid`) and may not place a case outside every grid
    of the city (`case.no_grid`); supervisors need a grid they cover, and may place a case outside
    every grid (it then has no grid: city-wide supervisors and admins see it, and its op log row
    says `outside every grid`)."""
    if grid is None:
        return None if actor.role in (Role.SUPERVISOR, Role.ADMIN) else "case.no_grid"
    return None if actor.covers_grid(grid) else "case.outside_grid"


# --- the entry point -----------------------------------------------------------------------------


def apply_op(case: Case | None, op: Op, actor: Actor, ctx: RuleContext) -> tuple[Outcome, Case | None]:
    """Apply one op. Returns the outcome and the new case (None when nothing changed).

    The input case is never mutated; a rejected op returns None for the case.
    """
    if op.kind == "create":
        return _create(case, op, actor, ctx)
    if case is None:
        return _reject(op, "case.unknown")
    if any(t.op_id == op.op_id for t in case.timeline):
        return Outcome(op.op_id, op.seq, op.case_id, DUPLICATE, None, case.version), None
    denied = _authority(case, op, actor)
    if denied:
        return _reject(op, denied)
    if op.kind == "edit":
        return _edit(case, op, actor, ctx)
    if op.kind == "transition":
        return _transition(case, op, actor, ctx, op.payload["action"])
    if op.kind == "link_duplicate":
        if op.payload["duplicate_of"] == case.case_id:
            return _reject(op, "op.bad_field", "a case cannot duplicate itself")
        return _transition(case, op, actor, ctx, "link_duplicate")
    if op.kind == "note":
        return _append_note(case, op, actor, ctx)
    if op.kind == "photo":
        return _append_photo(case, op, actor, ctx)
    if op.kind == "resolve_conflict":
        return _resolve(case, op, actor, ctx)
    return _reject(op, "op.unknown_kind")


def _commit(
    new: Case, op: Op, actor: Actor, ctx: RuleContext, outcome: str, action: str = "", detail: str = ""
) -> tuple[Outcome, Case]:
    new.version += 1
    new.overdue = is_overdue(new, ctx.now, ctx.calendar)
    new.timeline.append(
        TimelineEntry(
            new.version, op.op_id, actor.worker_id, op.kind, action, str(new.status), outcome, ctx.now
        )
    )
    return Outcome(op.op_id, op.seq, op.case_id, outcome, None, new.version, detail), new


def is_overdue(case: Case, now: int, calendar: WorkCalendar | None = None) -> bool:
    """Overdue is a flag computed from the deadline, never a state. A case closed late stays marked.

    With a calendar, only *working* time past the deadline counts (due Friday 17:30 is not overdue
    on Saturday), the same judgement the evaluation reports use.
    """
    if case.deadline is None:
        return False
    closed = case.status == Status.CLOSED and case.closed_at is not None
    if not closed and Status(case.status) in ENDED:
        return False
    judged_at = case.closed_at if closed and case.closed_at is not None else now
    if judged_at <= case.deadline:  # no time at all past the deadline: no working time either
        return False
    if calendar is not None:
        return calendar.is_overdue(case.deadline, judged_at)
    return judged_at > case.deadline


# --- create ----------------------------------------------------------------------------------------


def _create(case: Case | None, op: Op, actor: Actor, ctx: RuleContext) -> tuple[Outcome, Case | None]:
    if case is not None:
        if case.timeline and case.timeline[0].op_id == op.op_id:
            return Outcome(op.op_id, op.seq, op.case_id, DUPLICATE, None, case.version), None
        return _reject(op, "case.exists")
    if actor.role is Role.HANDLER:
        return _reject(op, "case.not_allowed")
    p = op.payload
    if ctx.categories and p["category"] not in ctx.categories:
        return _reject(op, "case.unknown_category")
    loc = Location(**p["location"])
    grid = grid_at(ctx, loc)  # a `grid_code` in the payload (older phones send one) is ignored
    refused = placement_refusal(actor, grid)
    if refused:
        return _reject(op, refused)
    new = Case(
        case_id=op.case_id,
        category=p["category"],
        reporter=actor.worker_id,
        description=p.get("description", ""),
        location=loc,
        grid_code=grid or "",
        address=p.get("address", ""),
        captured_at=op.captured_at,
        reported_at=ctx.now,
        on_spot=p["on_spot"],
    )
    for name in ("category", "description", "location", "grid_code", "address", "status"):
        new.field_versions[name] = [1, op.device_id]
    return _commit(new, op, actor, ctx, APPLIED, detail="" if grid else OUTSIDE_EVERY_GRID)


# --- field edits (rule 3, and rule 5 for closed cases) --------------------------------------------


def _set_field(case: Case, name: str, value: Any, ctx: RuleContext) -> None:
    if name == "location":  # the grid moves with the place, always
        case.location = Location(**value)
        case.grid_code = grid_at(ctx, case.location) or ""
    else:
        setattr(case, name, value)


def _changed_by_other_since(case: Case, name: str, op: Op) -> bool:
    stamp = case.field_versions.get(name)
    return stamp is not None and stamp[0] > op.base_version and stamp[1] != op.device_id


def _edit(case: Case, op: Op, actor: Actor, ctx: RuleContext) -> tuple[Outcome, Case | None]:
    status = Status(case.status)
    if status in ENDED and status is not Status.CLOSED:
        return _reject(op, "case.frozen")
    fields: dict[str, Any] = op.payload["fields"]
    if "grid_code" in fields:  # validation still accepts it from older phones; refused here, op by op
        return _reject(op, "case.grid_derived")
    if "category" in fields and ctx.categories and fields["category"] not in ctx.categories:
        return _reject(op, "case.unknown_category")
    if "location" in fields and fields["location"] != case.field_value("location"):
        refused = placement_refusal(actor, grid_at(ctx, Location(**fields["location"])))
        if refused:
            return _reject(op, refused, "location")
    new = copy_case(case)
    conflicts: list[str] = []
    applied = False
    for name, value in fields.items():
        current = case.field_value(name)
        if current == value:
            continue
        if status is Status.CLOSED or _changed_by_other_since(case, name, op):
            conflicts.append(name)
            new.conflicts.append(
                Conflict(op.op_id, name, current, value, actor.worker_id, op.base_version, case.version + 1)
            )
            continue
        _set_field(new, name, value, ctx)
        new.field_versions[name] = [case.version + 1, op.device_id]
        applied = True
    if conflicts:
        new.hard_conflict = True
        return _commit(new, op, actor, ctx, HARD, detail=",".join(conflicts))
    if not applied:
        return Outcome(op.op_id, op.seq, op.case_id, APPLIED, None, case.version, "no change"), None
    stale = any(
        stamp[0] > op.base_version and stamp[1] != op.device_id for stamp in case.field_versions.values()
    )
    placed_outside = bool(case.grid_code) and not new.grid_code  # a supervisor's move, audited
    return _commit(
        new, op, actor, ctx, SOFT if stale else APPLIED, detail=OUTSIDE_EVERY_GRID if placed_outside else ""
    )


# --- workflow moves (rules 4 and 5) ---------------------------------------------------------------


def _transition(
    case: Case, op: Op, actor: Actor, ctx: RuleContext, action: str
) -> tuple[Outcome, Case | None]:
    p = op.payload
    category = ctx.categories.get(case.category)
    evidence = category.evidence_needed() if category else {"after": 1, "verification": 1}
    counts = case.photo_counts()
    code = check_transition(
        action,
        case.status,
        actor.role,
        photo_counts=counts,
        evidence_needed=evidence,
        on_spot=case.on_spot,
        reason=p.get("reason", ""),
        extension_pending=case.extension_hours is not None,
    )
    if not code and action in ARRIVAL_CHECKED and ctx.arrived is not None:
        code = _evidence_not_arrived(case, action, actor, counts, evidence, p.get("reason", ""), ctx.arrived)
    if code:
        return _reject(op, code, action)
    if actor.role is Role.HANDLER and case.department != actor.department and case.handler != actor.worker_id:
        return _reject(op, "case.not_allowed", action)
    new = copy_case(case)
    new.status = next_status(action, case.status)
    new.field_versions["status"] = [case.version + 1, op.device_id]
    if action in ("file", "dispatch"):
        department = p.get("department") or (category.department if category else None)
        if not department:
            return _reject(op, "op.bad_field", "no department to dispatch to")
        new.department = department
        new.handler = p.get("handler")
        if action == "file" and category and ctx.calendar:
            new.deadline = ctx.calendar.add_working_hours(ctx.now, category.time_limit_hours)
    elif action == "start" and actor.role is Role.HANDLER:
        new.handler = actor.worker_id
    elif action == "send_back":
        new.handler = None
    elif action == "request_extension":
        if "hours" not in p:
            return _reject(op, "op.bad_field", "an extension needs hours")
        new.extension_hours = p["hours"]
    elif action == "approve_extension":
        hours = case.extension_hours or 0.0
        start = case.deadline if case.deadline is not None else ctx.now
        new.deadline = (
            ctx.calendar.add_working_hours(start, hours) if ctx.calendar else start + int(hours * 3600)
        )
        new.extension_hours = None
        new.extensions += 1
    elif action == "deny_extension":
        new.extension_hours = None
    elif action == "close":
        new.closed_at = ctx.now
    elif action == "rework":
        new.reworks += 1
    elif action == "reopen":
        new.closed_at = None
    elif action == "link_duplicate":
        new.duplicate_of = p["duplicate_of"]
    return _commit(new, op, actor, ctx, APPLIED, action)


#: The steps whose evidence must be on the server, not only claimed by a photo op (rule 5).
ARRIVAL_CHECKED = frozenset({"verify", "close"})


def _evidence_not_arrived(
    case: Case,
    action: str,
    actor: Actor,
    counts: dict[str, int],
    evidence: dict[str, int],
    reason: str,
    arrived: frozenset[str],
) -> str | None:
    """`case.<stage>_not_arrived` for the first stage (before, after, verification) whose photos are
    claimed but whose blobs are not complete on the server in the numbers the step needs."""
    here = dict.fromkeys(STAGES, 0)
    for photo in case.photos:
        if photo.sha256 in arrived:
            here[photo.stage] = here.get(photo.stage, 0) + 1
    for stage in STAGES:
        if here[stage] == counts.get(stage, 0):
            continue
        code = check_transition(
            action, case.status, actor.role, photo_counts={**counts, stage: here[stage]},
            evidence_needed=evidence, on_spot=case.on_spot, reason=reason,
            extension_pending=case.extension_hours is not None,
        )  # fmt: skip
        if code == "case.evidence_missing":
            return f"case.{stage}_not_arrived"
    return None


# --- append-only things (rule 6) -------------------------------------------------------------------


def _append_note(case: Case, op: Op, actor: Actor, ctx: RuleContext) -> tuple[Outcome, Case | None]:
    p = op.payload
    if any(n.note_id == p["note_id"] for n in case.notes):
        return Outcome(op.op_id, op.seq, op.case_id, DUPLICATE, None, case.version), None
    new = copy_case(case)
    new.notes.append(Note(p["note_id"], op.actor, p["text"], op.captured_at))
    return _commit(new, op, actor, ctx, APPLIED)


def _append_photo(case: Case, op: Op, actor: Actor, ctx: RuleContext) -> tuple[Outcome, Case | None]:
    p = op.payload
    if any(ph.photo_id == p["photo_id"] for ph in case.photos):
        return Outcome(op.op_id, op.seq, op.case_id, DUPLICATE, None, case.version), None
    new = copy_case(case)
    new.photos.append(
        Photo(p["photo_id"], p["sha256"], p["size"], p["stage"], p["key"], op.actor, op.captured_at)
    )
    return _commit(new, op, actor, ctx, APPLIED)


# --- supervisor review of hard conflicts -----------------------------------------------------------


def _resolve(case: Case, op: Op, actor: Actor, ctx: RuleContext) -> tuple[Outcome, Case | None]:
    target = op.payload["conflict_id"]
    index = next(
        (i for i, c in enumerate(case.conflicts) if c.conflict_id == target and not c.resolved), None
    )
    if index is None:
        if any(c.conflict_id == target for c in case.conflicts):
            return Outcome(op.op_id, op.seq, op.case_id, DUPLICATE, None, case.version), None
        return _reject(op, "case.conflict_unknown")
    old = case.conflicts[index]
    choice = op.payload["choice"]
    if choice == "take" and old.field == "grid_code":  # an old conflict over a grid a phone claimed
        return _reject(op, "case.grid_derived")
    if choice == "take" and old.field == "location":
        refused = placement_refusal(actor, grid_at(ctx, Location(**old.proposed)))
        if refused:
            return _reject(op, refused, "location")
    new = copy_case(case)
    new.conflicts[index] = Conflict(
        old.conflict_id,
        old.field,
        old.kept,
        old.proposed,
        old.proposed_by,
        old.base_version,
        old.at_version,
        True,
        choice,
        op.actor,
    )
    if choice == "take":
        _set_field(new, old.field, old.proposed, ctx)
        new.field_versions[old.field] = [case.version + 1, op.device_id]
    new.hard_conflict = any(not c.resolved for c in new.conflicts)
    return _commit(new, op, actor, ctx, APPLIED, "resolve_conflict")


# --- duplicate suggestions (rule 7) -----------------------------------------------------------------


_NEVER_DUPLICATED = frozenset({Status.REJECTED, Status.VOIDED, Status.DUPLICATE})
_STATUSES = frozenset(Status)
# Cheap tests before the haversine, each with a margin (0.1%, 5 cm) far above their error (under
# 1e-5 at these distances) and float error, so no answer changes: fixes further apart in latitude
# than the radius are too far on any path; otherwise the flat-earth distance decides unless it is
# within the margin of the radius, where the haversine decides as before.
_M_PER_DEG = EARTH_RADIUS_M * math.pi / 180
_MAX_D_LAT_DEG = DUPLICATE_RADIUS_M * 1.001 / _M_PER_DEG
_SURELY_FAR_DEG2 = (DUPLICATE_RADIUS_M * 1.001 / _M_PER_DEG) ** 2
_SURELY_NEAR_DEG2 = (DUPLICATE_RADIUS_M * 0.999 / _M_PER_DEG) ** 2


def is_possible_duplicate(a: Case, b: Case) -> bool:
    """Same category, within 50 m, reported within a day: suggested to a supervisor, never merged."""
    if a.case_id == b.case_id or a.location is None or b.location is None:
        return False
    return could_duplicate(
        a.category, a.location.lat, a.location.lon, a.reported_at,
        b.category, b.status, b.location.lat, b.location.lon, b.reported_at,
    )  # fmt: skip


def could_duplicate(
    category: str, lat: float, lon: float, reported_at: int,
    other_category: str, other_status: str, other_lat: float, other_lon: float, other_reported_at: int,
) -> bool:  # fmt: skip
    """`is_possible_duplicate` on plain values, for a server judging stored rows without building cases:
    `other` (category, status, place, time) could be a duplicate of a new case (category, place, time)."""
    return (
        duplicate_distance_m(
            category,
            lat,
            lon,
            reported_at,
            other_category,
            other_status,
            other_lat,
            other_lon,
            other_reported_at,
        )
        is not None
    )


def duplicate_distance_m(
    category: str, lat: float, lon: float, reported_at: int,
    other_category: str, other_status: str, other_lat: float, other_lon: float, other_reported_at: int,
) -> float | None:  # fmt: skip
    """How far `other` lies from a new case, in metres, when it could be a duplicate of it
    (`could_duplicate`); None when it could not. The distance orders suggestions, nearest first: it
    is the haversine's, or, where the flat-earth distance is surely inside the radius, that one
    (within 0.01 % of the haversine at these distances). `duplicate_distances` of one candidate."""
    other = ("", other_category, other_status, other_lat, other_lon, other_reported_at)
    found = duplicate_distances(category, lat, lon, reported_at, (other,))
    return found[0][0] if found else None


#: A candidate for `duplicate_distances`: case id, category, status, lat, lon, reported_at.
Candidate = tuple[str, str, str, float, float, int]


def duplicate_distances(
    category: str, lat: float, lon: float, reported_at: int, others: Iterable[Candidate]
) -> list[tuple[float, str]]:
    """`duplicate_distance_m` from a new case (category, place, time) to each of `others`, in one
    call: (metres, case id) of every candidate that could be a duplicate of it, in the order given.
    The rule's one body; a new report at a busy corner has dozens of candidates, and a call per
    candidate cost as much as the test itself."""
    found: list[tuple[float, str]] = []
    polar = abs(lat) >= 80.0
    for case_id, other_category, other_status, other_lat, other_lon, other_reported_at in others:
        if category != other_category:
            continue
        if other_status not in _STATUSES:
            Status(other_status)  # an unknown status is a ValueError, as it always was
        if other_status in _NEVER_DUPLICATED or abs(reported_at - other_reported_at) > DUPLICATE_WINDOW_S:
            continue
        d_lat = lat - other_lat
        if abs(d_lat) > _MAX_D_LAT_DEG:
            continue
        d_lon = lon - other_lon
        if abs(d_lon) < 1.0 and not polar:  # away from the antimeridian and the poles
            flat = d_lat * d_lat + (d_lon * math.cos(math.radians((lat + other_lat) / 2))) ** 2
            if flat > _SURELY_FAR_DEG2:
                continue
            if flat < _SURELY_NEAR_DEG2:
                found.append((math.sqrt(flat) * _M_PER_DEG, case_id))
                continue
        metres = haversine_m(lat, lon, other_lat, other_lon)
        if metres <= DUPLICATE_RADIUS_M:
            found.append((metres, case_id))
    return found
