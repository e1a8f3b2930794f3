"""A city-sized grid lattice for the bench: thousands of unit grids, like 汕尾's 4,509.

The demo city has 24 grids; two thousand devices reporting into 24 grids would make every case a
possible duplicate of hundreds of others, which no real city looks like. This lattice keeps the demo
city's grid size (0.00105° lon × 0.001° lat, about 108 m × 111 m) and its district code.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.catalogue import GridCell, grids_to_geojson

CELL_LON = 0.00105
CELL_LAT = 0.001
ORIGIN = (115.30, 22.75)  # lon, lat of the south-west corner
ADMIN = "441502"
PER_COMMUNITY = 45
PER_STREET = 10  # communities


@dataclass(frozen=True, slots=True)
class Cell:
    code: str
    west: float
    south: float

    def point(self, u: float, v: float) -> tuple[float, float]:
        """(lat, lon) at fractions u, v of the cell, kept off its edges."""
        u, v = 0.05 + 0.9 * u, 0.05 + 0.9 * v
        return round(self.south + v * CELL_LAT, 7), round(self.west + u * CELL_LON, 7)


def cells(count: int, columns: int = 75) -> list[Cell]:
    out = []
    for index in range(count):
        community, seq = divmod(index, PER_COMMUNITY)
        street, community = divmod(community, PER_STREET)
        code = f"{ADMIN}{street + 1:03d}{community + 1:03d}{seq + 1:03d}"
        row, col = divmod(index, columns)
        out.append(Cell(code, round(ORIGIN[0] + col * CELL_LON, 6), round(ORIGIN[1] + row * CELL_LAT, 6)))
    return out


def geojson(lattice: list[Cell]) -> dict[str, object]:
    grid_cells = []
    for cell in lattice:
        w, s = cell.west, cell.south
        e, n = round(w + CELL_LON, 6), round(s + CELL_LAT, 6)
        ring = ((w, s), (e, s), (e, n), (w, n), (w, s))
        grid_cells.append(GridCell(code=cell.code, name_zh=f"网格{cell.code[-9:]}", name_en=f"Grid {cell.code[-9:]}",
                                   polygon=(ring,)))  # fmt: skip
    return grids_to_geojson(grid_cells)
