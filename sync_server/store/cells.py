"""Neighbourhood keys for the duplicate rule (rule 7): one indexed integer per case, so the
possible duplicates of a whole segment's new cases come from ONE indexed query.

A key packs the category and a cell of a fixed lat/lon lattice (`CELL_DEG` ≈ 55 m of latitude):
`category << 40 | row << 20 | column`, with row and column offset to be non-negative. The cells
that can hold a case within `DUPLICATE_RADIUS_M` of a point are those overlapping a box of that
radius around it: 3 × 3 at the equator, a few more columns far north or south, where a degree of
longitude is shorter. The rule itself is still `shared.rules.is_possible_duplicate`; keys only
choose the candidates, so they may include too many, never too few (within |lat| < 89°).
"""

from __future__ import annotations

import math

from shared.rules import DUPLICATE_RADIUS_M

CELL_DEG = 0.0005
_DEGREE_M = 111_320.0  # metres per degree of latitude (and of longitude at the equator)
_MARGIN = 1.05  # the sphere is not quite the box: a little slack, never a miss
_ROW_OFFSET = 1 << 19  # rows span ±180,000 (lat / CELL_DEG): fits 20 bits once offset
_COL_OFFSET = 1 << 19  # columns span ±360,000: fits 20 bits once offset
_MIN_COS = 0.01  # the box stops growing past ~89.4°: no city lies there


def cell_key(category: str, lat: float, lon: float) -> int:
    """The key a case is stored under (category must be the 4-digit code)."""
    row = math.floor(lat / CELL_DEG) + _ROW_OFFSET
    col = math.floor(lon / CELL_DEG) + _COL_OFFSET
    return (int(category) << 40) | (row << 20) | col


def neighbourhood(category: str, lat: float, lon: float, radius_m: float = DUPLICATE_RADIUS_M) -> list[int]:
    """Every key whose cell overlaps `radius_m` (the duplicate radius) around (lat, lon), in this
    category."""
    d_lat = radius_m / _DEGREE_M * _MARGIN
    d_lon = d_lat / max(math.cos(math.radians(lat)), _MIN_COS)
    base = int(category) << 40
    rows = range(math.floor((lat - d_lat) / CELL_DEG), math.floor((lat + d_lat) / CELL_DEG) + 1)
    cols = range(math.floor((lon - d_lon) / CELL_DEG), math.floor((lon + d_lon) / CELL_DEG) + 1)
    return [base | ((row + _ROW_OFFSET) << 20) | (col + _COL_OFFSET) for row in rows for col in cols]
