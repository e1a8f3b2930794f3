"""What the map draws: cases coloured by status, my grids as polygons, my position — laid out for a
phone's screen: the view fits the worker's grids, only grids in view are outlined, markers at one
spot fan out around it (open cases on top), and each grid's label sits where no marker covers it."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from mobile.app.i18n import Translator
from mobile.core.location import Fix
from shared.model import ENDED

if TYPE_CHECKING:
    from mobile.core.device import Device
    from shared.catalogue import GridCell


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
    label_at: tuple[float, float] = (0.0, 0.0)  # (lat, lon): where the label reads clear of markers


@dataclass(frozen=True, slots=True)
class Camera:
    lat: float
    lon: float
    zoom: float


#: a case marker's size on screen, px: a touch target (the icon is drawn 38 px in a 48 px box)
MARKER_PX = 48
#: the map's size on a 412 px wide phone (the screen's padding taken off)
MAP_WIDTH_PX, MAP_HEIGHT_PX = 388, 480
#: web-mercator metres per pixel at zoom 0 on the equator
_M_PER_PX_Z0 = 156_543.03392
_M_PER_DEG_LAT = 111_320.0


def metres_per_px(lat: float, zoom: float) -> float:
    return _M_PER_PX_Z0 * math.cos(math.radians(lat)) / 2**zoom


def px_apart(a: tuple[float, float], b: tuple[float, float], zoom: float) -> float:
    """Screen distance between two (lat, lon) points at `zoom`."""
    lat = (a[0] + b[0]) / 2
    dy = (a[0] - b[0]) * _M_PER_DEG_LAT
    dx = (a[1] - b[1]) * _M_PER_DEG_LAT * math.cos(math.radians(lat))
    return math.hypot(dx, dy) / metres_per_px(lat, zoom)


class MapState:
    def __init__(self, device: Device, tr: Translator) -> None:
        self.device = device
        self.tr = tr
        self.position: Fix | None = None

    # --- the view ---------------------------------------------------------------------------------
    def _cells(self) -> list[tuple[GridCell, bool]]:
        identity = self.device.identity
        mine = set(identity.grids) if identity else set()
        every = bool(identity and identity.all_grids)
        return [(g, every or g.code in mine) for g in self.device.grids()]

    def bounds(self) -> tuple[float, float, float, float]:
        """(south, west, north, east) of the worker's grids (all grids when they have none)."""
        cells = [g for g, mine in self._cells() if mine] or [g for g, _ in self._cells()]
        points = [(lat, lon) for g in cells for lon, lat in g.polygon[0]]
        if not points:
            lat, lon = 22.786, 115.365
            return lat - 0.002, lon - 0.002, lat + 0.002, lon + 0.002
        lats, lons = [p[0] for p in points], [p[1] for p in points]
        return min(lats), min(lons), max(lats), max(lons)

    def camera(self, width_px: float = MAP_WIDTH_PX, height_px: float = MAP_HEIGHT_PX) -> Camera:
        """The view that shows all of the worker's grids with a margin (half a zoom level), capped
        at street level."""
        south, west, north, east = self.bounds()
        lat, lon = (south + north) / 2, (west + east) / 2
        height_m = max((north - south) * _M_PER_DEG_LAT, 1.0)
        width_m = max((east - west) * _M_PER_DEG_LAT * math.cos(math.radians(lat)), 1.0)
        fit = min(
            math.log2(_M_PER_PX_Z0 * math.cos(math.radians(lat)) * width_px / width_m),
            math.log2(_M_PER_PX_Z0 * math.cos(math.radians(lat)) * height_px / height_m),
        )
        return Camera(lat, lon, round(min(fit - 0.5, 18.0), 2))

    def in_view(self, points: list[tuple[float, float]], camera: Camera) -> bool:
        south, west, north, east = self.view_box(camera)
        return any(south <= a <= north and west <= b <= east for a, b in points)

    def view_box(self, camera: Camera) -> tuple[float, float, float, float]:
        half_h = MAP_HEIGHT_PX / 2 * metres_per_px(camera.lat, camera.zoom) / _M_PER_DEG_LAT
        half_w = (
            MAP_WIDTH_PX / 2 * metres_per_px(camera.lat, camera.zoom)
            / (_M_PER_DEG_LAT * math.cos(math.radians(camera.lat)))
        )  # fmt: skip
        return camera.lat - half_h, camera.lon - half_w, camera.lat + half_h, camera.lon + half_w

    # --- what is drawn ----------------------------------------------------------------------------
    def cases(self) -> list[CaseMarker]:
        """Every case with a position, where it is (closed ones first: drawn under open ones)."""
        lang = self.tr.lang
        names = {c.code: c.name(lang) for c in self.device.categories()}
        out = []
        for v in self.device.cases():
            loc = v.case.location
            if loc is None:
                continue
            label = f"{names.get(v.case.category, v.case.category)} · {self.tr.status(str(v.case.status))}"
            out.append(CaseMarker(v.case.case_id, loc.lat, loc.lon, str(v.case.status), label))
        out.sort(key=lambda m: (m.status not in ENDED, m.case_id))
        return out

    def markers(self, camera: Camera | None = None) -> list[CaseMarker]:
        """The case markers as drawn at `camera`'s zoom: markers closer than a marker's size fan out
        on a small circle around their middle, so none hides another (open ones drawn last)."""
        camera = camera or self.camera()
        placed = self.cases()
        groups: list[list[CaseMarker]] = []
        for m in placed:
            for group in groups:
                if any(px_apart((m.lat, m.lon), (o.lat, o.lon), camera.zoom) < MARKER_PX for o in group):
                    group.append(m)
                    break
            else:
                groups.append([m])
        out: list[CaseMarker] = []
        for group in groups:
            if len(group) == 1:
                out += group
                continue
            lat = sum(m.lat for m in group) / len(group)
            lon = sum(m.lon for m in group) / len(group)
            radius_px = max(MARKER_PX, len(group) * MARKER_PX / (2 * math.pi) * 1.15)
            metres = radius_px * metres_per_px(lat, camera.zoom)
            for n, m in enumerate(group):
                angle = 2 * math.pi * n / len(group) + math.pi / 2
                dlat = metres * math.sin(angle) / _M_PER_DEG_LAT
                dlon = metres * math.cos(angle) / (_M_PER_DEG_LAT * math.cos(math.radians(lat)))
                out.append(replace(m, lat=lat + dlat, lon=lon + dlon))
        out.sort(key=lambda m: m.status not in ENDED)
        return out

    def outlines(self, camera: Camera | None = None) -> list[GridOutline]:
        """The grids in view (the lattice stops at the map's edge), each label where it reads clear
        of the case markers: the middle, or the inner corner farthest from every marker."""
        camera = camera or self.camera()
        markers = [(m.lat, m.lon) for m in self.markers(camera)]
        out = []
        for g, mine in self._cells():
            ring = [(lat, lon) for lon, lat in g.polygon[0]]
            if not self.in_view(ring, camera) and not mine:
                continue
            out.append(
                GridOutline(
                    g.code,
                    g.name(self.tr.lang),
                    ring,
                    mine,
                    label_spot(ring, markers, camera.zoom),
                )
            )
        return out

    def center(self) -> tuple[float, float]:
        """My position, else the middle of my grids."""
        if self.position is not None:
            return self.position.lat, self.position.lon
        camera = self.camera()
        return camera.lat, camera.lon


def label_spot(
    ring: list[tuple[float, float]], markers: list[tuple[float, float]], zoom: float
) -> tuple[float, float]:
    """Of the grid's middle and its corners pulled a third of the way in, the spot farthest (on
    screen) from any marker; the middle when none is near."""
    corners = ring[:-1] if len(ring) > 1 and ring[0] == ring[-1] else ring  # a closed ring repeats one
    lat = sum(p[0] for p in corners) / len(corners)
    lon = sum(p[1] for p in corners) / len(corners)
    spots = [(lat, lon)] + [(lat + (a - lat) * 0.66, lon + (b - lon) * 0.66) for a, b in corners]
    if not markers:
        return spots[0]

    def clearance(spot: tuple[float, float]) -> float:
        return min(px_apart(spot, m, zoom) for m in markers)

    if clearance(spots[0]) >= MARKER_PX * 1.5:
        return spots[0]
    return max(spots, key=clearance)
