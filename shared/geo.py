"""Plane and sphere geometry for locating reports in unit grids.

Coordinates follow two conventions, each where it is usual: functions about a *fix* (a phone's GPS
reading) take `(lat, lon)`; functions about *polygons* take GeoJSON's `(lon, lat)`. Unit grids are
about 100 m across, so polygon tests work in plain degrees: the distortion of the plane over
100 m is far below GPS error.

Boundaries: `point_in_polygon` uses the half-open crossing rule, so the result for a point exactly on
an edge is fixed and the same whichever polygon the edge is computed from. For grids that tile the
city, a point on a shared edge therefore belongs to exactly one grid (for an axis-aligned lattice:
the grid to its east, or north). A point on a grid's outer boundary with no neighbour may be outside.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.catalogue import GridCell, Ring

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean radius


def valid_lat_lon(lat: float, lon: float) -> bool:
    """A usable fix: finite numbers in range, and not (0, 0), which phones report when they have
    no fix at all ("null island", in the Gulf of Guinea, where no city grid lies)."""
    for value in (lat, lon):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return False
    return not (lat == 0 and lon == 0)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (spherical Earth; within 0.5% of the ellipsoid)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2 - lon1)
    h = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _crossings(lon: float, lat: float, ring: Ring) -> int:
    count = 0
    for (x1, y1), (x2, y2) in pairwise(ring):
        if (y1 > lat) == (y2 > lat):
            continue  # the edge does not span the point's latitude (half-open: [min, max) )
        if y1 > y2:  # compute from the lower end, so a shared edge gives bit-identical answers
            x1, y1, x2, y2 = x2, y2, x1, y1
        x_at = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
        if lon < x_at:
            count += 1
    return count


def point_in_polygon(lon: float, lat: float, polygon: Sequence[Ring]) -> bool:
    """Whether (lon, lat) lies in the polygon (first ring outer, others holes), by ray casting
    eastwards with the even-odd rule over all rings; see the module docstring for boundaries."""
    return sum(_crossings(lon, lat, ring) for ring in polygon) % 2 == 1


def _ring_area_centroid(ring: Ring) -> tuple[float, float, float]:
    """Signed area (shoelace) and the area-weighted centroid sums of one ring."""
    area2 = cx = cy = 0.0
    x0, y0 = ring[0]  # shift to the first vertex: fewer digits lost in the products
    for (x1, y1), (x2, y2) in pairwise(ring):
        a, b, c, d = x1 - x0, y1 - y0, x2 - x0, y2 - y0
        cross = a * d - c * b
        area2 += cross
        cx += (a + c) * cross
        cy += (b + d) * cross
    return area2 / 2, cx / 6 + x0 * area2 / 2, cy / 6 + y0 * area2 / 2


def polygon_centroid(polygon: Sequence[Ring]) -> tuple[float, float]:
    """The area centroid (lon, lat) of a polygon with holes. Falls back to the mean of the outer
    ring's vertices when the area is zero. For a concave grid it may lie outside the grid."""
    outer_area, sx, sy = _ring_area_centroid(polygon[0])
    sign = 1.0 if outer_area >= 0 else -1.0
    area, mx, my = abs(outer_area), sx * sign, sy * sign
    for hole in polygon[1:]:
        hole_area, hx, hy = _ring_area_centroid(hole)
        hole_sign = 1.0 if hole_area >= 0 else -1.0
        area -= abs(hole_area)
        mx -= hx * hole_sign
        my -= hy * hole_sign
    if area <= 0:
        vertices = polygon[0][:-1] or polygon[0]
        return (
            sum(p[0] for p in vertices) / len(vertices),
            sum(p[1] for p in vertices) / len(vertices),
        )
    return mx / area, my / area


class GridIndex:
    """Finds the unit grid holding a fix. Grids are bucketed by bounding box on a uniform lattice
    sized like a typical grid, so a lookup tests a handful of polygons whatever the city's size.

    When grids overlap (bad data), the one given first wins: lookups stay deterministic.
    """

    __slots__ = ("_buckets", "_cells", "_origin", "_size")

    def __init__(self, cells: Iterable[GridCell]) -> None:
        self._cells: tuple[GridCell, ...] = tuple(cells)
        self._buckets: dict[tuple[int, int], tuple[int, ...]] = {}
        self._origin = (0.0, 0.0)
        self._size = (1.0, 1.0)
        if not self._cells:
            return
        boxes = [c.bbox for c in self._cells]
        min_lon, min_lat = min(b[0] for b in boxes), min(b[1] for b in boxes)
        max_lon, max_lat = max(b[2] for b in boxes), max(b[3] for b in boxes)
        widths = sorted(b[2] - b[0] for b in boxes)
        heights = sorted(b[3] - b[1] for b in boxes)
        # A typical grid's size; never so small that a few huge grids fill millions of buckets.
        cap = 4 * len(boxes) + 64
        width = max(widths[len(widths) // 2], (max_lon - min_lon) / math.sqrt(cap), 1e-9)
        height = max(heights[len(heights) // 2], (max_lat - min_lat) / math.sqrt(cap), 1e-9)
        self._origin, self._size = (min_lon, min_lat), (width, height)
        buckets: dict[tuple[int, int], list[int]] = {}
        for index, (w, s, e, n) in enumerate(boxes):
            (ix0, iy0), (ix1, iy1) = self._bucket(w, s), self._bucket(e, n)
            for ix in range(ix0, ix1 + 1):
                for iy in range(iy0, iy1 + 1):
                    buckets.setdefault((ix, iy), []).append(index)
        self._buckets = {key: tuple(found) for key, found in buckets.items()}

    def __len__(self) -> int:
        return len(self._cells)

    def _bucket(self, lon: float, lat: float) -> tuple[int, int]:
        return (
            math.floor((lon - self._origin[0]) / self._size[0]),
            math.floor((lat - self._origin[1]) / self._size[1]),
        )

    def locate(self, lat: float, lon: float) -> GridCell | None:
        """The grid containing the fix, or None (outside every grid, or not a valid fix)."""
        if not valid_lat_lon(lat, lon):
            return None
        for index in self._buckets.get(self._bucket(lon, lat), ()):
            cell = self._cells[index]
            w, s, e, n = cell.bbox
            if not (w <= lon <= e and s <= lat <= n):
                continue
            if any(point_in_polygon(lon, lat, polygon) for polygon in cell.polygons):
                return cell
        return None


def grid_of(index: GridIndex, lat: float, lon: float) -> str | None:
    """The code of the unit grid holding the point (lat, lon), or None when no grid of the city
    holds it (or it is not a valid fix). The one way gridsync turns a place into a grid: the rules
    (`RuleContext.locate`), the phone, the server and Open311 all derive a case's grid with it, and
    never take a grid from what a phone or a citizen claims."""
    cell = index.locate(lat, lon)
    return None if cell is None else cell.code
