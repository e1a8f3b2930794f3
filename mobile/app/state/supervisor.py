"""The supervisor's desk: cases waiting for them, and the evaluation figures (综合评价)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mobile.app.i18n import Translator
from shared.model import Status

if TYPE_CHECKING:
    from mobile.core.device import Device
    from shared.model import Case


def waiting_for(case: Case) -> str | None:
    """Why a case waits for a supervisor (a GROUPS key), or None. An open conflict comes first; an
    on-the-spot report is a closure to approve, never a report to file."""
    status = Status(case.status)
    if case.open_conflicts():
        return "conflict"
    if status is Status.VERIFIED or (status is Status.REPORTED and case.on_spot):
        return "close"
    if status is Status.REPORTED:
        return "file"
    if case.extension_hours is not None and status is Status.HANDLING:
        return "extension"
    return None


#: the queue's groups, in the order the supervisor works through them
GROUPS = ("file", "close", "extension", "conflict")


@dataclass(frozen=True, slots=True)
class QueueRow:
    case_id: str
    title: str
    number: str
    status: str
    status_label: str  # an on-the-spot case waiting for closure says so, not "to file"
    why: str
    group: str  # one of GROUPS
    waiting: str  # how long since it was reported, in words
    overdue: bool
    quick_action: str | None  # what the card itself offers (filing: pick a department, OK)
    reported_at: int
    captured_at: int


@dataclass(frozen=True, slots=True)
class QueueGroup:
    key: str
    title: str
    rows: list[QueueRow]


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float  # 0..1 for rates; a count otherwise
    text: str  # the value as people read it
    fraction: float  # bar length, 0..1


class SupervisorState:
    def __init__(self, device: Device, tr: Translator, *, clock: Callable[[], float] = time.time) -> None:
        self.device = device
        self.tr = tr
        self.clock = clock

    def queue(self) -> list[QueueRow]:
        """Everything waiting for this supervisor, group by group (GROUPS order), overdue first and
        then oldest first within a group."""
        return [row for group in self.groups() for row in group.rows]

    def groups(self) -> list[QueueGroup]:
        identity = self.device.identity
        if identity is None or not identity.is_supervisor:
            return []
        names = {c.code: c.name(self.tr.lang) for c in self.device.categories()}
        now = self.clock()
        by_group: dict[str, list[QueueRow]] = {g: [] for g in GROUPS}
        for v in self.device.cases():
            group = waiting_for(v.case)
            if group is None:
                continue
            c = v.case
            on_spot_closure = group == "close" and c.status == Status.REPORTED
            reported = c.reported_at or c.captured_at
            by_group[group].append(
                QueueRow(
                    case_id=c.case_id,
                    title=names.get(c.category, c.category),
                    number=c.case_no or self.tr.t("case.number_pending"),
                    status=str(c.status),
                    status_label=self.tr.t("case.on_spot")
                    if on_spot_closure
                    else self.tr.status(str(c.status)),
                    why=self.tr.t(f"sup.why.{group}"),
                    group=group,
                    waiting=self.tr.t("sup.waiting", when=self.tr.ago(reported, now)),
                    overdue=bool(v.overdue),
                    quick_action="file" if group == "file" else None,
                    reported_at=reported,
                    captured_at=c.captured_at,
                )
            )
        out = []
        for key in GROUPS:
            # reports sent in one round share the server's time: the capture time breaks the tie
            rows = sorted(
                by_group[key], key=lambda r: (not r.overdue, r.reported_at, r.captured_at, r.case_id)
            )
            if rows:
                out.append(QueueGroup(key, self.tr.t(f"sup.group.{key}", count=len(rows)), rows))
        return out

    def figures(self) -> dict:  # type: ignore[type-arg]
        return self.device.dashboard(int(self.clock()))

    def rate_bars(self) -> list[Bar]:
        d = self.figures()
        out = []
        for key, label in (
            ("closure_rate", "sup.closure_rate"),
            ("on_time_closure_rate", "sup.on_time_rate"),
            ("rework_rate", "sup.rework_rate"),
            ("extension_rate", "sup.extension_rate"),
        ):
            value = float(d.get(key, 0.0))
            out.append(Bar(self.tr.t(label), value, f"{value * 100:.0f}%", value))
        return out

    def count_bars(self) -> list[Bar]:
        d = self.figures()
        rows = [
            (self.tr.t("sup.total"), int(d.get("total", 0))),
            (self.tr.t("sup.valid_reports"), int(d.get("valid", 0))),
            (self.tr.t("sup.overdue"), int(d.get("overdue", 0))),
        ]
        rows += [
            (self.tr.status(s), n) for s, n in sorted(d.get("by_status", {}).items(), key=lambda kv: -kv[1])
        ]
        top = max((n for _, n in rows), default=0) or 1
        return [Bar(label, n, str(n), n / top) for label, n in rows]
