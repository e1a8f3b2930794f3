"""What the map draws: cases coloured by status, my grids as polygons, my position."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mobile.app.i18n import Translator
from mobile.core.location import Fix
from shared.geo import polygon_centroid

if TYPE_CHECKING:
    from mobile.core.device import Device


@dataclass(frozen=True, slots=True)
class CaseMarker:
    case_id: str
    lat: float
    lon: float
    status: str
    label: str


@dataclass(frozen=True, slots=True)
class GridOutline:
    code: str
    label: str
    points: list[tuple[float, float]]  # (lat, lon)
    mine: bool


class MapState:
    def __init__(self, device: Device, tr: Translator) -> None:
        self.device = device
        self.tr = tr
        self.position: Fix | None = None

    def markers(self) -> list[CaseMarker]:
        lang = self.tr.lang
        names = {c.code: c.name(lang) for c in self.device.categories()}
        out = []
        for v in self.device.cases():
            loc = v.case.location
            if loc is None:
                continue
            label = f"{names.get(v.case.category, v.case.category)} · {self.tr.status(str(v.case.status))}"
            out.append(CaseMarker(v.case.case_id, loc.lat, loc.lon, str(v.case.status), label))
        return out

    def outlines(self) -> list[GridOutline]:
        identity = self.device.identity
        mine = set(identity.grids) if identity else set()
        every = bool(identity and identity.all_grids)
        out = []
        for g in self.device.grids():
            ring = g.polygon[0]
            out.append(
                GridOutline(
                    g.code, g.name(self.tr.lang), [(lat, lon) for lon, lat in ring], every or g.code in mine
                )
            )
        return out

    def center(self) -> tuple[float, float]:
        """My position, else the middle of my grids, else of all grids, else the demo city."""
        if self.position is not None:
            return self.position.lat, self.position.lon
        outlines = [o for o in self.outlines() if o.mine] or self.outlines()
        if not outlines:
            return 22.786, 115.365
        cells = {g.code: g for g in self.device.grids()}
        points = [polygon_centroid(cells[o.code].polygon) for o in outlines]  # (lon, lat)
        return sum(p[1] for p in points) / len(points), sum(p[0] for p in points) / len(points)
