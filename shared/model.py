"""The case and the people who act on it: plain values both sides agree on.

A case travels as a dict (`case_to_dict` / `case_from_dict`); the field names here are the wire
names. Times are integer epoch seconds (UTC). Device capture times are data, never used to order
anything: order comes from server-assigned case versions.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from operator import attrgetter
from typing import Any


class Role(StrEnum):
    WORKER = "worker"  # 网格员: reports and verifies
    HANDLER = "handler"  # 处置人员: a department's field staff
    SUPERVISOR = "supervisor"  # 监督员/指挥中心: files, dispatches, approves closure
    ADMIN = "admin"


class Status(StrEnum):
    REPORTED = "reported"  # 信息收集: waiting to be filed by the centre
    DISPATCHED = "dispatched"  # 立案+派遣: with the responsible department, deadline running
    HANDLING = "handling"  # 处理中
    RETURNED = "returned"  # 回退: the department says it is not theirs; the centre re-dispatches
    REPORTED_BACK = "reported_back"  # 处理反馈: after photos submitted
    VERIFIED = "verified"  # 核查: a worker re-photographed the site
    CLOSED = "closed"  # 结案
    REJECTED = "rejected"  # 不予立案
    VOIDED = "voided"  # 作废
    DUPLICATE = "duplicate"  # linked to another case


#: States no field edit or workflow move (except reopen) may leave.
ENDED = frozenset({Status.CLOSED, Status.REJECTED, Status.VOIDED, Status.DUPLICATE})
OPEN_STATES = frozenset(Status) - ENDED

STAGES = ("before", "after", "verification")
LOCATION_SOURCES = ("gps", "photo", "manual")

#: Fields an `edit` op may change. `location` is one field made of lat, lon, accuracy and source,
#: so that a moved pin never mixes two people's coordinates. `grid_code` is not among them: a case's
#: grid is always derived from its location (`shared.geo.grid_of`), never set by a phone.
EDITABLE_FIELDS = ("category", "description", "address", "location")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who an op acts as, as the server knows them (never as the device claims)."""

    worker_id: str
    role: Role
    grids: frozenset[str] = frozenset()
    department: str | None = None
    all_grids: bool = False  # a supervisor or admin over the whole city

    def covers_grid(self, grid_code: str) -> bool:
        return self.all_grids or self.role is Role.ADMIN or grid_code in self.grids


@dataclass(slots=True)
class Location:
    lat: float
    lon: float
    accuracy_m: float
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"lat": self.lat, "lon": self.lon, "accuracy_m": self.accuracy_m, "source": self.source}


@dataclass(slots=True)
class Photo:
    photo_id: str
    sha256: str  # content address of the sealed blob as uploaded
    size: int
    stage: str
    key: str  # per-photo key (b64): the blob is sealed with it; travels only inside sealed envelopes
    added_by: str
    captured_at: int


@dataclass(slots=True)
class Note:
    note_id: str
    author: str
    text: str
    captured_at: int


@dataclass(slots=True)
class TimelineEntry:
    version: int
    op_id: str
    actor: str
    kind: str
    action: str
    status: str
    outcome: str
    at: int  # server time the op was applied


@dataclass(slots=True)
class Conflict:
    """A hard conflict: two people set one field to different values. Both values are kept."""

    conflict_id: str  # the op id that lost
    field: str
    kept: Any  # the value that stands meanwhile (see docs/conflict-rules.md)
    proposed: Any
    proposed_by: str
    base_version: int
    at_version: int
    resolved: bool = False
    resolution: str | None = None  # "keep" or "take"
    resolved_by: str | None = None


@dataclass(slots=True)
class Case:
    case_id: str
    category: str
    reporter: str
    status: str = Status.REPORTED
    case_no: str = ""
    description: str = ""
    location: Location | None = None
    grid_code: str = ""
    address: str = ""
    department: str | None = None
    handler: str | None = None
    deadline: int | None = None
    version: int = 0
    captured_at: int = 0
    reported_at: int = 0
    closed_at: int | None = None
    on_spot: bool = False
    overdue: bool = False
    hard_conflict: bool = False
    possible_duplicates: list[str] = field(default_factory=list)
    duplicate_of: str | None = None
    extension_hours: float | None = None  # requested, waiting for a supervisor
    extensions: int = 0
    reworks: int = 0
    photos: list[Photo] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    #: field -> [version that last changed it, device that changed it]. Lets the rules tell whether
    #: "someone else changed this field since your base version" without a history lookup.
    field_versions: dict[str, list[Any]] = field(default_factory=dict)

    def photo_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STAGES, 0)
        for photo in self.photos:
            counts[photo.stage] = counts.get(photo.stage, 0) + 1
        return counts

    def field_value(self, name: str) -> Any:
        if name == "location":
            return None if self.location is None else self.location.to_dict()
        return getattr(self, name)

    def open_conflicts(self) -> list[Conflict]:
        return [c for c in self.conflicts if not c.resolved]


def case_to_dict(case: Case) -> dict[str, Any]:
    return {
        "case_id": case.case_id,
        "case_no": case.case_no,
        "category": case.category,
        "reporter": case.reporter,
        "status": str(case.status),
        "description": case.description,
        "location": None if case.location is None else case.location.to_dict(),
        "grid_code": case.grid_code,
        "address": case.address,
        "department": case.department,
        "handler": case.handler,
        "deadline": case.deadline,
        "version": case.version,
        "captured_at": case.captured_at,
        "reported_at": case.reported_at,
        "closed_at": case.closed_at,
        "on_spot": case.on_spot,
        "overdue": case.overdue,
        "hard_conflict": case.hard_conflict,
        "possible_duplicates": list(case.possible_duplicates),
        "duplicate_of": case.duplicate_of,
        "extension_hours": case.extension_hours,
        "extensions": case.extensions,
        "reworks": case.reworks,
        "photos": [_photo_dict(p) for p in case.photos],
        "notes": [
            {"note_id": n.note_id, "author": n.author, "text": n.text, "captured_at": n.captured_at}
            for n in case.notes
        ],
        "timeline": [_timeline_dict(t) for t in case.timeline],
        "conflicts": [_conflict_dict(c) for c in case.conflicts],
        "field_versions": {k: list(v) for k, v in case.field_versions.items()},
    }


def _photo_dict(p: Photo) -> dict[str, Any]:
    return {
        "photo_id": p.photo_id,
        "sha256": p.sha256,
        "size": p.size,
        "stage": p.stage,
        "key": p.key,
        "added_by": p.added_by,
        "captured_at": p.captured_at,
    }


def _timeline_dict(t: TimelineEntry) -> dict[str, Any]:
    return {
        "version": t.version,
        "op_id": t.op_id,
        "actor": t.actor,
        "kind": t.kind,
        "action": t.action,
        "status": t.status,
        "outcome": t.outcome,
        "at": t.at,
    }


def _conflict_dict(c: Conflict) -> dict[str, Any]:
    return {
        "conflict_id": c.conflict_id,
        "field": c.field,
        "kept": c.kept,
        "proposed": c.proposed,
        "proposed_by": c.proposed_by,
        "base_version": c.base_version,
        "at_version": c.at_version,
        "resolved": c.resolved,
        "resolution": c.resolution,
        "resolved_by": c.resolved_by,
    }


def case_from_dict(d: dict[str, Any]) -> Case:
    loc = d.get("location")
    return Case(
        case_id=d["case_id"],
        case_no=d.get("case_no", ""),
        category=d["category"],
        reporter=d["reporter"],
        status=d.get("status", Status.REPORTED),
        description=d.get("description", ""),
        location=None if loc is None else Location(**loc),
        grid_code=d.get("grid_code", ""),
        address=d.get("address", ""),
        department=d.get("department"),
        handler=d.get("handler"),
        deadline=d.get("deadline"),
        version=d.get("version", 0),
        captured_at=d.get("captured_at", 0),
        reported_at=d.get("reported_at", 0),
        closed_at=d.get("closed_at"),
        on_spot=d.get("on_spot", False),
        overdue=d.get("overdue", False),
        hard_conflict=d.get("hard_conflict", False),
        possible_duplicates=list(d.get("possible_duplicates", [])),
        duplicate_of=d.get("duplicate_of"),
        extension_hours=d.get("extension_hours"),
        extensions=d.get("extensions", 0),
        reworks=d.get("reworks", 0),
        photos=[Photo(**p) for p in d.get("photos", [])],
        notes=[Note(**n) for n in d.get("notes", [])],
        timeline=[TimelineEntry(**t) for t in d.get("timeline", [])],
        conflicts=[Conflict(**c) for c in d.get("conflicts", [])],
        field_versions={k: list(v) for k, v in d.get("field_versions", {}).items()},
    )


_CASE_VALUES = attrgetter(*(f.name for f in fields(Case)))  # every field, in `__init__` order


def copy_case(case: Case) -> Case:
    """A deep-enough copy for the rules: lists are new, their (treated as immutable) items shared.

    Made by `Case(*values)` and new containers, not `dataclasses.replace` (which re-reads every
    field by name through `getattr`): the rules copy a case for every op they apply, and this is
    about four times faster."""
    new = Case(*_CASE_VALUES(case))
    new.possible_duplicates = list(case.possible_duplicates)
    new.photos = list(case.photos)
    new.notes = list(case.notes)
    new.timeline = list(case.timeline)
    new.conflicts = list(case.conflicts)
    new.field_versions = dict(case.field_versions)
    return new
