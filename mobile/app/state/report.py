"""Capturing a report: category, photos, position, words — then one local save.

A report must take seconds and must never be lost: `save()` writes it to the device's database and
outbox in one transaction, whether or not there is a network. Position follows the precedence of
`mobile.core.location.LocationChoice` (manual pin, locked fix, good live fix, photo GPS, poor fix).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mobile.app.i18n import Translator
from mobile.core.location import Fix, FixWindow, LocationChoice
from mobile.core.photos import prepare_photo
from shared.catalogue import Category, GridCell

if TYPE_CHECKING:
    from mobile.core.device import Device

#: the parts of the report screen, top to bottom: a missing field's message shows in its part
FIELDS = ("category", "photos", "location", "on_spot")


@dataclass(frozen=True, slots=True)
class DraftPhoto:
    data: bytes = field(repr=False)  # as the camera or file gave it; the core prepares it on save
    thumb: bytes = field(repr=False)
    stage: str
    gps: tuple[float, float] | None
    taken_at: int | None


@dataclass(frozen=True, slots=True)
class CategoryGroup:
    title: str
    categories: list[Category]


class ReportState:
    def __init__(self, device: Device, tr: Translator, *, clock: Callable[[], float] = time.time) -> None:
        self.device = device
        self.tr = tr
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        self.category: Category | None = None
        self.query = ""
        self.photos: list[DraftPhoto] = []
        self.fixes = FixWindow()
        self.choice = LocationChoice()
        self.description = ""
        self.address = ""
        self.on_spot = False
        self.saved_case_id: str | None = None

    def _now(self) -> int:
        return int(self.clock())

    # --- category ---------------------------------------------------------------------------------
    def category_groups(self, query: str | None = None) -> list[CategoryGroup]:
        """Recently used first, then the majors (two levels), filtered by words or code."""
        query = (self.query if query is None else query).strip().lower()
        lang = self.tr.lang
        every = self.device.categories()

        def matches(c: Category) -> bool:
            if not query:
                return True
            words = (c.code, c.name_zh, c.name_en, c.major_name_zh, c.major_name_en)
            return any(query in w.lower() for w in words)

        groups: list[CategoryGroup] = []
        recent = [c for c in self.device.recent_categories(5) if matches(c)]
        if recent:
            groups.append(CategoryGroup(self.tr.t("report.recent"), recent))
        by_major: dict[str, list[Category]] = {}
        for c in sorted(every, key=lambda c: c.code):
            if matches(c):
                by_major.setdefault(c.major, []).append(c)
        for major, cats in by_major.items():
            kind = self.tr.t("report.components" if cats[0].kind == "component" else "report.events")
            groups.append(CategoryGroup(f"{kind} · {major} {cats[0].major_name(lang)}", cats))
        return groups

    def pick_category(self, code: str) -> Category:
        for c in self.device.categories():
            if c.code == code:
                self.category = c
                return c
        raise KeyError(code)

    # --- photos -----------------------------------------------------------------------------------
    def add_photo(self, data: bytes, stage: str = "before") -> DraftPhoto:
        """Check the picture now (GridsyncError photo.* if it cannot be used) and keep a thumbnail.
        A position in the photo becomes the photo-GPS candidate for the report's location."""
        prepared = prepare_photo(data, max_side=640, thumb_side=240)
        photo = DraftPhoto(bytes(data), prepared.thumb, stage, prepared.gps, prepared.taken_at)
        self.photos.append(photo)
        if prepared.gps is not None:
            lat, lon = prepared.gps
            self.choice.use_photo_gps(lat, lon, prepared.taken_at or self._now())
        return photo

    def remove_photo(self, index: int) -> None:
        self.photos.pop(index)
        with_gps = [p for p in self.photos if p.gps is not None]
        if not with_gps:
            self.choice.forget_photo_gps()
        else:
            last = with_gps[-1]
            assert last.gps is not None
            self.choice.use_photo_gps(last.gps[0], last.gps[1], last.taken_at or self._now())

    def photos_of(self, stage: str) -> list[DraftPhoto]:
        return [p for p in self.photos if p.stage == stage]

    # --- location ---------------------------------------------------------------------------------
    def add_fix(self, fix: Fix) -> None:
        self.fixes.add(fix)

    def location(self) -> Fix | None:
        return self.choice.resolve(self.fixes, self._now())

    def waiting_message(self) -> str | None:
        """Why a better GPS fix is still awaited (None when good, pinned or locked)."""
        if self.choice.pinned or self.choice.locked:
            return None
        reason = self.fixes.waiting_reason(self._now())
        return None if reason is None else reason.message(self.tr.lang)

    def lock(self) -> bool:
        fix = self.location()
        if fix is None:
            return False
        self.choice.lock(fix)
        return True

    def unlock(self) -> None:
        self.choice.unlock()

    def pin(self, lat: float, lon: float) -> Fix:
        return self.choice.pin(lat, lon, self._now())

    def unpin(self) -> None:
        self.choice.unpin()

    def grid(self) -> GridCell | None:
        fix = self.location()
        return None if fix is None else self.device.locate(fix.lat, fix.lon)

    def location_text(self) -> str:
        fix = self.location()
        if fix is None:
            return self.tr.t("report.no_location")
        parts = [f"{fix.lat:.6f}, {fix.lon:.6f}", self.tr.t(f"report.source.{fix.source}")]
        if fix.source == "gps":
            parts.append(self.tr.t("report.accuracy", meters=f"{fix.accuracy_m:.0f}"))
        if self.choice.locked is not None and fix == self.choice.locked:
            parts.append(self.tr.t("report.locked"))
        return " · ".join(parts)

    def grid_text(self) -> str:
        cell = self.grid()
        if cell is None:
            return self.tr.t("report.no_grid")
        return self.tr.t("report.grid", grid=f"{cell.name(self.tr.lang)} ({cell.code})")

    # --- saving -----------------------------------------------------------------------------------
    def missing_fields(self) -> dict[str, str]:
        """What still stops the save, by the part of the screen it belongs to (FIELDS order), in
        words; empty when the report can be saved."""
        out: dict[str, str] = {}
        if self.category is None:
            out["category"] = self.tr.t("report.need_category")
        if not self.photos_of("before"):
            out["photos"] = self.tr.t("report.need_photo")
        if self.location() is None:
            out["location"] = self.tr.t("report.need_location")
        if self.on_spot and not self.photos_of("after"):
            out["on_spot"] = self.tr.t("report.need_after")
        return out

    def missing(self) -> list[str]:
        """What still stops the save, as words (empty when the report can be saved)."""
        return list(self.missing_fields().values())

    def saved_message(self, online: bool) -> str:
        """What happened to a saved report, truthfully: on the phone for sure; uploading now when the
        server was reached lately, or waiting for the network when it was not."""
        return self.tr.t("report.saved_online" if online else "report.saved_offline")

    def save(self) -> str:
        """Write the report locally (one case, one outbox entry); returns the new case id."""
        if self.missing():
            raise ValueError("; ".join(self.missing()))
        assert self.category is not None
        fix = self.location()
        assert fix is not None
        photos = [(p.data, p.stage) for p in self.photos if self.on_spot or p.stage == "before"]
        case_id = self.device.report(
            category=self.category.code,
            location=fix,
            description=self.description.strip(),
            address=self.address.strip(),
            photos=photos,
            on_spot=self.on_spot,
        )
        self.reset()
        self.saved_case_id = case_id
        return case_id
