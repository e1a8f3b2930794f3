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


@dataclass(frozen=True, slots=True)
class QueueRow:
    case_id: str
    title: str
    number: str
    status: str
    status_label: str
    why: str


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
        names = {c.code: c.name(self.tr.lang) for c in self.device.categories()}
        out = []
        for v in self.device.approval_queue():
            c = v.case
            if c.open_conflicts():
                why = "conflict"
            elif c.extension_hours is not None and c.status == Status.HANDLING:
                why = "extension"
            elif c.status in (Status.VERIFIED, Status.REPORTED):
                why = "close"
            else:
                why = "other"
            out.append(
                QueueRow(
                    c.case_id,
                    names.get(c.category, c.category),
                    c.case_no or self.tr.t("case.number_pending"),
                    str(c.status),
                    self.tr.status(str(c.status)),
                    self.tr.t(f"sup.why.{why}"),
                )
            )
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
