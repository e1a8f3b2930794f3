"""My work: the cases this person reported or must act on, with filters and sync status."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mobile.app.i18n import Translator
from mobile.app.state.sync import SyncState
from mobile.core.views import CaseView
from shared.model import ENDED

if TYPE_CHECKING:
    from mobile.core.device import Device

FILTERS = ("all", "mine", "assigned", "open", "overdue")


@dataclass(frozen=True, slots=True)
class CaseRow:
    """One line of the list, already in words."""

    case_id: str
    title: str  # category name
    number: str  # case number, or a note that the server gives it
    status: str  # the status code, for the chip colour
    status_label: str
    place: str  # grid name or address
    deadline: str  # "" when there is none
    overdue: bool
    pending: bool
    problem: bool
    conflict: bool
    reported_at: int


class HomeState:
    def __init__(self, device: Device, tr: Translator, *, clock: Callable[[], float] = time.time) -> None:
        self.device = device
        self.tr = tr
        self.clock = clock
        self.filter = "all"
        self.text = ""

    def _views(self) -> list[CaseView]:
        views = self.device.cases(mine=self.filter == "mine", text=self.text.strip())
        if self.filter == "open":
            views = [v for v in views if v.case.status not in ENDED]
        elif self.filter == "overdue":
            views = [v for v in views if v.overdue]
        elif self.filter == "assigned":
            views = [v for v in views if self.device.allowed_actions(v.case.case_id)]
        return views

    def rows(self) -> list[CaseRow]:
        lang = self.tr.lang
        names = {c.code: c.name(lang) for c in self.device.categories()}
        grids = {g.code: g.name(lang) for g in self.device.grids()}
        out = []
        for v in self._views():
            c = v.case
            out.append(
                CaseRow(
                    case_id=c.case_id,
                    title=names.get(c.category, c.category),
                    number=c.case_no or self.tr.t("case.number_pending"),
                    status=str(c.status),
                    status_label=self.tr.status(str(c.status)),
                    place=c.address or grids.get(c.grid_code, c.grid_code),
                    deadline=""
                    if not c.deadline
                    else self.tr.t("home.deadline", when=self.tr.when(c.deadline)),
                    overdue=bool(v.overdue),
                    pending=bool(v.pending),
                    problem=any(p.kind == "rejected" for p in v.problems),
                    conflict=bool(c.hard_conflict) or any(p.kind != "rejected" for p in v.problems),
                    reported_at=c.reported_at or c.captured_at,
                )
            )
        # Needs attention first, then open before ended, newest first.
        out.sort(key=lambda r: (not (r.problem or r.overdue), r.status in ENDED, -r.reported_at))
        return out

    def pending_count(self) -> int:
        work = self.device.unsent_work()
        return work.reports + work.actions + work.photos

    def sync_line(self) -> str:
        """The last *successful* sync and how long ago; then what the last round did, if it failed."""
        good = self.device.last_good_sync()
        last = self.device.last_sync()
        if good is None and last is None:
            return self.tr.t("home.never_synced")
        line = (
            self.tr.t("sync.never")
            if good is None
            else self.tr.t(
                "home.last_sync", when=self.tr.ago(good.finished_at or good.started_at, self.clock())
            )
        )
        if last is not None and not (last.reached_server and last.ok):
            line += " · " + SyncState(self.device, self.tr, clock=self.clock).result_text(last)
        return line
