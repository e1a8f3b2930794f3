"""One case: what happened, its photos by stage, and what this person may do next.

Every move is saved locally at once (the core checks it against the shared rules first and raises
GridsyncError with the code when they refuse); the server decides again when it syncs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mobile.app.i18n import Translator
from mobile.app.state.problems import problem_text
from mobile.core.errors import NetworkError
from mobile.core.views import CaseView
from shared.errors import GridsyncError
from shared.geo import haversine_m
from shared.model import STAGES, Conflict, Note, Photo, Status
from shared.workflow import LINK_DUPLICATE, TRANSITIONS

if TYPE_CHECKING:
    from mobile.core.device import Device

#: Moves asked again before they are saved: a closure is sealed for everyone once it syncs.
CONFIRMED = frozenset({"close"})
#: The photo stage a move needs when the case has none yet.
PHOTO_FOR = {"report_back": "after", "verify": "verification"}


@dataclass(frozen=True, slots=True)
class ActionSpec:
    action: str
    label: str
    needs_reason: bool
    needs_hours: bool
    needs_department: bool
    photo_stage: str | None  # offered in the dialog; required when `photo_required`
    photo_required: bool
    confirm: str = ""  # asked before a move that cannot be taken back ("" for none)

    @property
    def needs_input(self) -> bool:
        return (
            self.needs_reason
            or self.needs_hours
            or self.needs_department
            or self.photo_stage is not None
            or bool(self.confirm)
        )


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A case the server found may be the same problem (same category, within 50 m, within a day)."""

    case_id: str
    title: str  # its number (or id) and status, in words
    detail: str  # how far, and what it says
    distance_m: float | None


#: a case in one of these states is never linked to (the server's rule 7 skips them too)
_NOT_ORIGINALS = frozenset({Status.REJECTED, Status.VOIDED, Status.DUPLICATE})


@dataclass(frozen=True, slots=True)
class TimelineLine:
    when: str
    text: str
    outcome: str


class CaseState:
    def __init__(self, device: Device, tr: Translator, case_id: str) -> None:
        self.device = device
        self.tr = tr
        self.case_id = case_id
        self.message: str | None = None  # the last result, in words
        self.error: str | None = None

    def view(self) -> CaseView | None:
        return self.device.case(self.case_id)

    # --- reading ----------------------------------------------------------------------------------
    def person(self, worker_id: str) -> str:
        """A person by name (张伟); the login id only while the phone has not learnt the name."""
        return self.device.people_names().get(worker_id, worker_id)

    def facts(self) -> list[tuple[str, str]]:
        """(label, value) pairs for the header."""
        v = self.view()
        if v is None:
            return []
        c, lang, t = v.case, self.tr.lang, self.tr.t
        category = next((x for x in self.device.categories() if x.code == c.category), None)
        grid = next((g for g in self.device.grids() if g.code == c.grid_code), None)
        rows = [
            (t("case.category"), f"{category.name(lang)} ({c.category})" if category else c.category),
            (t("case.grid"), f"{grid.name(lang)} ({c.grid_code})" if grid else c.grid_code),
            (t("case.reporter"), self.person(c.reporter)),
            (t("case.reported_at"), self.tr.when(c.reported_at or c.captured_at)),
        ]
        if c.department:
            dept = next((d for d in self.device.departments() if d.code == c.department), None)
            rows.append((t("case.department"), dept.name(lang) if dept else c.department))
        if c.handler:
            rows.append((t("case.handler"), self.person(c.handler)))
        if c.deadline:
            mark = f" · {t('home.overdue')}" if v.overdue else ""
            rows.append((t("case.deadline"), self.tr.when(c.deadline) + mark))
        if c.location is not None:
            loc = c.location
            rows.append(
                (t("case.location"), f"{loc.lat:.6f}, {loc.lon:.6f} · {t(f'report.source.{loc.source}')}")
            )
        if c.address:
            rows.append((t("report.address"), c.address))
        if c.description:
            rows.append((t("case.description"), c.description))
        if c.extension_hours:
            rows.append(("", t("case.extension_pending", hours=f"{c.extension_hours:g}")))
        if c.on_spot:
            rows.append(("", t("case.on_spot")))
        if c.reworks:
            rows.append(("", t("case.reworks", count=c.reworks)))
        return rows

    def photos_by_stage(self) -> list[tuple[str, list[Photo]]]:
        v = self.view()
        if v is None:
            return []
        return [(self.tr.t(f"stage.{s}"), [p for p in v.case.photos if p.stage == s]) for s in STAGES]

    def thumbnail(self, photo: Photo) -> bytes | None:
        return self.device.photo_bytes(photo.sha256, thumb=True)

    def full_photo(self, photo: Photo) -> bytes | None:
        return self.device.photo_bytes(photo.sha256)

    def notes(self) -> list[Note]:
        v = self.view()
        return [] if v is None else sorted(v.case.notes, key=lambda n: n.captured_at)

    def timeline(self) -> list[TimelineLine]:
        v = self.view()
        if v is None:
            return []
        out = []
        for entry in v.case.timeline:
            what = entry.action or entry.kind
            out.append(
                TimelineLine(
                    when=self.tr.when(entry.at),
                    text=self.tr.t(
                        "case.timeline_entry", action=self.tr.action(what), actor=self.person(entry.actor)
                    )
                    + f" → {self.tr.status(entry.status)}",
                    outcome=self.tr.t(f"case.outcome.{entry.outcome}")
                    if f"case.outcome.{entry.outcome}" in _OUTCOMES
                    else entry.outcome,
                )
            )
        return out

    def problems(self) -> list[str]:
        v = self.view()
        return [] if v is None else [problem_text(p, self.tr) for p in v.problems]

    def open_conflicts(self) -> list[Conflict]:
        v = self.view()
        if v is None or not self.device.identity or not self.device.identity.is_supervisor:
            return []
        return v.case.open_conflicts()

    def duplicate_suggestions(self) -> list[Suggestion]:
        """For a supervisor who may still link this case as a duplicate: the possible duplicates the
        server found when it was reported (nearest first), those this phone holds and that can still
        be the original — each with how far it lies and what it says."""
        v = self.view()
        identity = self.device.identity
        if v is None or identity is None or not identity.is_supervisor:
            return []
        if Status(v.case.status) not in LINK_DUPLICATE.sources:
            return []
        here, out = v.case.location, []
        for case_id in v.case.possible_duplicates:
            other = self.device.case(case_id)
            if other is None or Status(other.case.status) in _NOT_ORIGINALS:
                continue
            o = other.case
            there = o.location
            metres = (
                None
                if here is None or there is None
                else haversine_m(here.lat, here.lon, there.lat, there.lon)
            )
            title = f"{o.case_no or o.case_id[:8]} · {self.tr.status(str(o.status))}"
            said = (
                [self.tr.t("case.duplicate_distance", metres=f"{metres:.0f}")] if metres is not None else []
            )
            said += [self.tr.when(o.reported_at or o.captured_at), o.description]
            out.append(Suggestion(case_id, title, " · ".join(x for x in said if x), metres))
        return out

    def link_duplicate(self, original_id: str) -> bool:
        """Mark this case a duplicate of `original_id` (saved now, sent at the next sync)."""
        self.message = self.error = None
        try:
            self.device.link_duplicate(self.case_id, original_id)
        except GridsyncError as exc:
            self.error = self.tr.error(exc.code)
            return False
        self.message = self.tr.t("case.done", action=self.tr.action("link_duplicate"))
        return True

    # --- acting -----------------------------------------------------------------------------------
    def actions(self) -> list[ActionSpec]:
        v = self.view()
        if v is None:
            return []
        counts = v.case.photo_counts()
        out = []
        for action in self.device.allowed_actions(self.case_id):
            t = TRANSITIONS.get(action)
            stage = PHOTO_FOR.get(action)
            out.append(
                ActionSpec(
                    action=action,
                    label=self.tr.action(action),
                    needs_reason=bool(t and t.reason_required),
                    needs_hours=action == "request_extension",
                    needs_department=action in ("file", "dispatch"),
                    photo_stage=stage,
                    photo_required=stage is not None and counts.get(stage, 0) == 0,
                    confirm=self.tr.t(f"case.confirm.{action}") if action in CONFIRMED else "",
                )
            )
        return out

    def departments(self) -> list[tuple[str, str]]:
        """(code, name) of the departments a case can be dispatched to, the category's own first."""
        v = self.view()
        depts = self.device.departments()
        default = None
        if v is not None:
            cat = next((c for c in self.device.categories() if c.code == v.case.category), None)
            default = cat.department if cat else None
        pairs = [(d.code, d.name(self.tr.lang)) for d in depts]
        pairs.sort(key=lambda p: p[0] != default)
        return pairs

    def perform(
        self,
        action: str,
        *,
        reason: str = "",
        hours: float | None = None,
        department: str | None = None,
        photo: bytes | None = None,
    ) -> bool:
        """Save the move (and its photo first, if one was taken). False, with `error` in words,
        when the shared rules refuse it or a photo cannot be used."""
        self.message = self.error = None
        try:
            if photo is not None:
                self.device.add_photo(self.case_id, photo, PHOTO_FOR.get(action, "after"))
            self.device.transition(
                self.case_id, action, reason=reason.strip(), department=department, hours=hours
            )
        except GridsyncError as exc:
            self.error = self.tr.error(exc.code)
            return False
        self.message = self.tr.t("case.done", action=self.tr.action(action))
        return True

    def add_note(self, text: str) -> bool:
        if not text.strip():
            return False
        try:
            self.device.add_note(self.case_id, text.strip())
        except GridsyncError as exc:
            self.error = self.tr.error(exc.code)
            return False
        self.message = self.tr.t("case.done", action=self.tr.action("note"))
        return True

    def add_photo(self, data: bytes, stage: str) -> bool:
        try:
            self.device.add_photo(self.case_id, data, stage)
        except GridsyncError as exc:
            self.error = self.tr.t("error.photo", reason=self.tr.error(exc.code))
            return False
        self.message = self.tr.t("case.done", action=self.tr.action("photo"))
        return True

    def can_edit_public_text(self) -> bool:
        """Whether to offer "Public text": a supervisor (or admin) looking at a case on her phone."""
        identity = self.device.identity
        return self.view() is not None and identity is not None and identity.is_supervisor

    async def set_public_text(self, text: str) -> bool:
        """Send the case's public text now (online only, never queued). False, with `error` in
        words, when it is empty, refused, or the server cannot be reached (nothing changed then)."""
        self.message = self.error = None
        if not text.strip():
            self.error = self.tr.t("case.public_text_empty")
            return False
        try:
            await self.device.set_public_text(self.case_id, text)
        except GridsyncError as exc:
            self.error = self.tr.error(exc.code)
            return False
        except NetworkError:
            self.error = self.tr.t("case.public_text_offline")
            return False
        self.message = self.tr.t("case.public_text_saved")
        return True

    def resolve(self, conflict_id: str, choice: str) -> bool:
        try:
            self.device.resolve_conflict(self.case_id, conflict_id, choice)
        except GridsyncError as exc:
            self.error = self.tr.error(exc.code)
            return False
        self.message = self.tr.t("case.done", action=self.tr.action("resolve"))
        return True


_OUTCOMES = {
    f"case.outcome.{o}" for o in ("applied", "rejected", "soft_conflict", "hard_conflict", "duplicate")
}
