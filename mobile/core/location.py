"""Where a report is: live GPS fixes, the worker's own choice, and the rule that picks one.

Pure logic: the GPS itself is a boundary the app drives (and fakes in tests), and every function that
needs the time takes `now` (epoch seconds). Which grid a position falls in is `shared.geo`'s business.

Precedence when a report is saved (`LocationChoice.resolve`): a manual pin on the map, then a position
the worker locked, then a good live fix, then the photo's own GPS, then the best poor live fix. The
worker's explicit choices win over anything measured; a good fix now beats a photo taken earlier, but
a photo position beats a poor fix.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Final, Literal

from shared.errors import GridsyncError

Source = Literal["gps", "photo", "manual"]
_SOURCES: Final = frozenset(("gps", "photo", "manual"))
_MAX_FIXES: Final = 1024  # a GPS reports about once a second; the window is tens of seconds


@dataclass(frozen=True, slots=True)
class Fix:
    """One position in decimal degrees (WGS 84, as the phone's GPS reports it).

    `accuracy_m` is the radius the GPS claims, in metres. Manual pins and photo positions have no
    measured accuracy and carry 0: read `source` before showing the number.
    """

    lat: float
    lon: float
    accuracy_m: float
    at: int
    source: Source = "gps"

    def __post_init__(self) -> None:
        object.__setattr__(self, "lat", _number(self.lat, "lat", -90.0, 90.0))
        object.__setattr__(self, "lon", _number(self.lon, "lon", -180.0, 180.0))
        object.__setattr__(self, "accuracy_m", _number(self.accuracy_m, "accuracy_m", 0.0, math.inf))
        if isinstance(self.at, bool) or not isinstance(self.at, int):
            raise GridsyncError("op.bad_field", "at must be whole epoch seconds")
        if self.source not in _SOURCES:
            raise GridsyncError("op.bad_field", f"source must be one of {sorted(_SOURCES)}")


@dataclass(frozen=True, slots=True)
class WaitingReason:
    """Why the app is still waiting for a good fix, for the capture screen."""

    code: Literal["no_fix", "poor_accuracy"]
    good_accuracy_m: float
    accuracy_m: float | None = None

    def message(self, lang: str = "en") -> str:
        zh = lang.startswith("zh")
        if self.code == "no_fix":
            return "正在等待定位…" if zh else "Waiting for a GPS fix…"
        now, need = f"{self.accuracy_m:.0f}", f"{self.good_accuracy_m:.0f}"
        if zh:
            return f"当前定位精度约 {now} 米，正在等待优于 {need} 米的定位。"
        return f"GPS accuracy is {now} m; waiting for {need} m or better."


class FixWindow:
    """The live fixes of the last `window_s` seconds; the best of them is what the GPS knows now.

    A fix is fresh while `now - window_s <= fix.at`. A fix stamped slightly in the future (the GPS
    clock and the phone clock differ) counts as fresh.
    """

    def __init__(self, window_s: int = 30, good_accuracy_m: float = 20) -> None:
        if window_s <= 0 or good_accuracy_m <= 0:
            raise ValueError("window_s and good_accuracy_m must be positive")
        self.window_s = window_s
        self.good_accuracy_m = good_accuracy_m
        self._fixes: deque[Fix] = deque(maxlen=_MAX_FIXES)

    def add(self, fix: Fix) -> None:
        self._fixes.append(fix)
        newest = max(f.at for f in self._fixes)
        while self._fixes and self._fixes[0].at < newest - self.window_s:
            self._fixes.popleft()

    def best(self, now: int) -> Fix | None:
        """The most accurate fresh fix; among equally accurate ones, the newest."""
        fresh = [fix for fix in self._fixes if fix.at >= now - self.window_s]
        return min(fresh, key=lambda fix: (fix.accuracy_m, -fix.at), default=None)

    def is_good(self, now: int) -> bool:
        best = self.best(now)
        return best is not None and best.accuracy_m <= self.good_accuracy_m

    def waiting_reason(self, now: int) -> WaitingReason | None:
        """None once the best fresh fix is good enough."""
        best = self.best(now)
        if best is None:
            return WaitingReason("no_fix", self.good_accuracy_m)
        if best.accuracy_m > self.good_accuracy_m:
            return WaitingReason("poor_accuracy", self.good_accuracy_m, best.accuracy_m)
        return None


class LocationChoice:
    """The worker's decisions about where the report being captured is (one per report)."""

    def __init__(self) -> None:
        self._pinned: Fix | None = None
        self._locked: Fix | None = None
        self._photo: Fix | None = None

    @property
    def pinned(self) -> Fix | None:
        return self._pinned

    @property
    def locked(self) -> Fix | None:
        return self._locked

    @property
    def photo(self) -> Fix | None:
        return self._photo

    def lock(self, fix: Fix) -> None:
        """Keep this position for the report, whatever the GPS says afterwards."""
        self._locked = fix

    def pin(self, lat: float, lon: float, now: int) -> Fix:
        """The worker put the report on the map by hand."""
        self._pinned = Fix(lat, lon, 0.0, now, "manual")
        return self._pinned

    def use_photo_gps(self, lat: float, lon: float, taken_at: int) -> Fix:
        """The position recorded in an attached photo (the latest photo's wins). Pass `now` as
        `taken_at` when the photo had no capture time."""
        self._photo = Fix(lat, lon, 0.0, taken_at, "photo")
        return self._photo

    def unpin(self) -> None:
        self._pinned = None

    def unlock(self) -> None:
        self._locked = None

    def forget_photo_gps(self) -> None:
        self._photo = None

    def resolve(self, window: FixWindow, now: int) -> Fix | None:
        """The position to save with the report, by the precedence in the module docstring."""
        if self._pinned is not None:
            return self._pinned
        if self._locked is not None:
            return self._locked
        live = window.best(now)
        if window.is_good(now):
            return live
        return self._photo if self._photo is not None else live


def _number(value: object, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GridsyncError("op.bad_field", f"{name} must be a number")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise GridsyncError("op.bad_field", f"{name} must be within {low}..{high}")
    return number
