"""Small builders for ops, actors and categories used by the shared/ tests."""

from __future__ import annotations

import uuid
from typing import Any

from shared.catalogue import Category, GridCell
from shared.geo import GridIndex, grid_of
from shared.model import Actor, Role
from shared.ops import Op, validate_op
from shared.rules import RuleContext
from shared.worktime import WorkCalendar

GRID_A = "441502001001001"
GRID_B = "441502001001002"
DEV_1 = "d1" * 16
DEV_2 = "d2" * 16
DEV_SUP = "5f" * 16
NOW = 1_790_042_400  # Tuesday 2026-09-22 10:00 in Shanghai (UTC+8)

CATEGORIES = {
    "0101": Category(
        code="0101",
        kind="component",
        name_zh="井盖",
        name_en="Manhole cover",
        major_name_zh="公用设施",
        major_name_en="Public utilities",
        time_limit_hours=4,
        department="municipal",
        evidence=(("before", 1), ("after", 1), ("verification", 1)),
    ),
    "5101": Category(
        code="5101",
        kind="event",
        name_zh="暴露垃圾",
        name_en="Exposed garbage",
        major_name_zh="市容环境",
        major_name_en="City appearance",
        time_limit_hours=2,
        department="sanitation",
        evidence=(("before", 1), ("after", 1)),
    ),
}

WORKER = Actor("zhang.wei", Role.WORKER, frozenset({GRID_A}))
WORKER_2 = Actor("li.na", Role.WORKER, frozenset({GRID_A}))
OUTSIDER = Actor("wang.fang", Role.WORKER, frozenset({GRID_B}))
HANDLER = Actor("chen.gang", Role.HANDLER, department="municipal")
OTHER_HANDLER = Actor("zhao.lei", Role.HANDLER, department="sanitation")
SUPERVISOR = Actor("liu.yang", Role.SUPERVISOR, frozenset({GRID_A, GRID_B}))
ADMIN = Actor("admin", Role.ADMIN)


#: Two unit grids side by side (each 0.01° wide), a place in each, and a place outside both.
GRIDS = GridIndex(
    GridCell(code=code, name_zh=f"网格{code[-1]}", name_en=f"Grid {code[-1]}", polygon=(((w, 22.78), (w + 0.01, 22.78), (w + 0.01, 22.79), (w, 22.79), (w, 22.78)),))
    for code, w in ((GRID_A, 115.36), (GRID_B, 115.37))
)  # fmt: skip
PLACE = {
    GRID_A: {"lat": 22.786, "lon": 115.365, "accuracy_m": 8.0, "source": "gps"},
    GRID_B: {"lat": 22.786, "lon": 115.375, "accuracy_m": 8.0, "source": "gps"},
}
BEIJING = {"lat": 39.9042, "lon": 116.4074, "accuracy_m": 8.0, "source": "gps"}


def locate(lat: float, lon: float) -> str | None:
    return grid_of(GRIDS, lat, lon)


def ctx(now: int = NOW, arrived: frozenset[str] | None = None) -> RuleContext:
    return RuleContext(
        now=now, categories=CATEGORIES, calendar=WorkCalendar(), locate=locate, arrived=arrived
    )


def new_id() -> str:
    return uuid.uuid4().hex


class OpMaker:
    """Makes valid ops for one device, numbering them in sequence like the phone's outbox does."""

    def __init__(self, device_id: str, actor: str) -> None:
        self.device_id = device_id
        self.actor = actor
        self.seq = 0

    def make(self, kind: str, case_id: str, payload: dict[str, Any], base_version: int = 0) -> Op:
        self.seq += 1
        return validate_op(
            {
                "op_id": new_id(),
                "device_id": self.device_id,
                "actor": self.actor,
                "seq": self.seq,
                "case_id": case_id,
                "base_version": base_version,
                "captured_at": NOW - 60,
                "kind": kind,
                "payload": payload,
            }
        )

    def create(
        self,
        case_id: str,
        *,
        category: str = "0101",
        grid: str = GRID_A,
        on_spot: bool = False,
        place: dict[str, Any] | None = None,
    ) -> Op:
        """A report at `place`, or in `grid` (a place inside it); it names `grid` as older phones did."""
        return self.make(
            "create",
            case_id,
            {
                "category": category,
                "description": "井盖破损",
                "location": dict(place or PLACE[grid]),
                "grid_code": grid,
                "on_spot": on_spot,
            },
        )

    def edit(self, case_id: str, base: int, **fields: Any) -> Op:
        return self.make("edit", case_id, {"fields": fields}, base)

    def move(self, case_id: str, action: str, base: int = 0, **extra: Any) -> Op:
        return self.make("transition", case_id, {"action": action, **extra}, base)

    def photo(self, case_id: str, stage: str, sha256: str = "ab" * 32) -> Op:
        return self.make(
            "photo",
            case_id,
            {"photo_id": new_id(), "sha256": sha256, "size": 1000, "stage": stage, "key": "A" * 43},
        )

    def note(self, case_id: str, text: str = "现场已查看") -> Op:
        return self.make("note", case_id, {"note_id": new_id(), "text": text})
