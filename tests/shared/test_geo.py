"""Distances, point-in-polygon with holes and boundaries, centroids, and the grid index."""

from __future__ import annotations

import math
import random
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.catalogue import GridCell, Polygon
from shared.geo import GridIndex, haversine_m, point_in_polygon, polygon_centroid, valid_lat_lon

SQUARE: Polygon = (((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.0)),)
HOLE = ((0.25, 0.25), (0.25, 0.75), (0.75, 0.75), (0.75, 0.25), (0.25, 0.25))
SQUARE_WITH_HOLE: Polygon = (SQUARE[0], HOLE)


def rectangle(w: float, s: float, e: float, n: float) -> Polygon:
    return (((w, s), (e, s), (e, n), (w, n), (w, s)),)


def lattice(columns: int, rows: int, lon0: float = 115.36, lat0: float = 22.78) -> list[GridCell]:
    """A tiling of ~100 m grids, coordinates rounded so neighbours share identical edges."""

    def x(i: int) -> float:
        return round(lon0 + i * 0.00105, 6)

    def y(j: int) -> float:
        return round(lat0 + j * 0.001, 6)

    return [
        GridCell(
            code=f"441502001001{c * rows + r + 1:03d}",
            name_zh=f"第{c * rows + r + 1}网格",
            name_en=f"Grid {c * rows + r + 1}",
            polygon=rectangle(x(c), y(r), x(c + 1), y(r + 1)),
        )
        for c in range(columns)
        for r in range(rows)
    ]


# --- distance and fixes -------------------------------------------------------------------------------


def test_one_degree_of_latitude_is_about_111_km() -> None:
    assert haversine_m(22.0, 115.0, 23.0, 115.0) == pytest.approx(111_195, rel=1e-4)


def test_distance_to_itself_is_zero_and_distance_is_symmetric() -> None:
    assert haversine_m(22.786, 115.365, 22.786, 115.365) == 0.0
    a = haversine_m(22.786, 115.365, 22.787, 115.366)
    assert a == haversine_m(22.787, 115.366, 22.786, 115.365)
    assert 148 < a < 155  # ~103 m east and ~111 m north: ~151 m


def test_antipodes_are_half_the_earth_apart() -> None:
    assert haversine_m(0.0, 0.0, 0.0, 180.0) == pytest.approx(math.pi * 6_371_008.8)


@pytest.mark.parametrize(
    ("lat", "lon", "ok"),
    [
        (22.786, 115.365, True),
        (-90.0, 180.0, True),
        (90.5, 115.0, False),
        (22.0, -181.0, False),
        (math.nan, 115.0, False),
        (22.0, math.inf, False),
        (0.0, 0.0, False),  # a phone without a fix
        (True, 115.0, False),
    ],
)
def test_only_finite_in_range_fixes_are_valid(lat: float, lon: float, ok: bool) -> None:
    assert valid_lat_lon(lat, lon) is ok


# --- point in polygon ----------------------------------------------------------------------------------


def test_points_inside_and_outside_a_square() -> None:
    assert point_in_polygon(0.5, 0.5, SQUARE)
    assert not point_in_polygon(1.5, 0.5, SQUARE)
    assert not point_in_polygon(0.5, -0.1, SQUARE)


def test_a_point_in_a_hole_is_outside() -> None:
    assert not point_in_polygon(0.5, 0.5, SQUARE_WITH_HOLE)
    assert point_in_polygon(0.1, 0.5, SQUARE_WITH_HOLE)
    assert point_in_polygon(0.9, 0.9, SQUARE_WITH_HOLE)


def test_a_concave_polygon_excludes_its_notch() -> None:
    ell: Polygon = (((0.0, 0.0), (2.0, 0.0), (2.0, 1.0), (1.0, 1.0), (1.0, 2.0), (0.0, 2.0), (0.0, 0.0)),)
    assert point_in_polygon(0.5, 1.5, ell)
    assert point_in_polygon(1.5, 0.5, ell)
    assert not point_in_polygon(1.5, 1.5, ell)


def test_west_and_south_edges_belong_to_the_square_east_and_north_do_not() -> None:
    assert point_in_polygon(0.0, 0.5, SQUARE)
    assert point_in_polygon(0.5, 0.0, SQUARE)
    assert point_in_polygon(0.0, 0.0, SQUARE)
    assert not point_in_polygon(1.0, 0.5, SQUARE)
    assert not point_in_polygon(0.5, 1.0, SQUARE)
    assert not point_in_polygon(1.0, 1.0, SQUARE)


def test_ring_direction_does_not_change_the_answer() -> None:
    clockwise: Polygon = (tuple(reversed(SQUARE[0])),)
    for lon, lat in [(0.5, 0.5), (0.0, 0.5), (1.0, 0.5), (0.5, 0.0), (0.5, 1.0), (2.0, 2.0)]:
        assert point_in_polygon(lon, lat, clockwise) == point_in_polygon(lon, lat, SQUARE)


diagonal_halves: tuple[Polygon, Polygon] = (
    (((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)),),
    (((0.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.0)),),
)
unit = st.floats(min_value=0.0, max_value=1.0, exclude_max=True, allow_nan=False)


@given(unit, unit)
def test_a_point_on_or_near_a_shared_slanted_edge_is_in_exactly_one_half(lon: float, lat: float) -> None:
    hits = [point_in_polygon(lon, lat, half) for half in diagonal_halves]
    assert hits.count(True) == 1


@given(unit)
def test_a_point_exactly_on_the_shared_diagonal_is_in_exactly_one_half(t: float) -> None:
    hits = [point_in_polygon(t, t, half) for half in diagonal_halves]
    assert hits.count(True) == 1


# --- centroids -----------------------------------------------------------------------------------------


def test_centroid_of_a_square_is_its_middle() -> None:
    assert polygon_centroid(SQUARE) == pytest.approx((0.5, 0.5))


def test_centroid_ignores_ring_direction() -> None:
    assert polygon_centroid((tuple(reversed(SQUARE[0])),)) == pytest.approx((0.5, 0.5))


def test_a_hole_pulls_the_centroid_away_from_itself() -> None:
    hole = ((0.5, 0.0), (0.5, 1.0), (1.0, 1.0), (1.0, 0.0), (0.5, 0.0))  # the whole east half
    assert polygon_centroid((SQUARE[0], hole)) == pytest.approx((0.25, 0.5))


def test_centroid_of_a_real_sized_grid_is_precise() -> None:
    lon, lat = polygon_centroid(rectangle(115.3629, 22.787, 115.36395, 22.788))
    assert lon == pytest.approx(115.363425, abs=1e-9)
    assert lat == pytest.approx(22.7875, abs=1e-9)


def test_centroid_of_a_degenerate_ring_is_the_mean_of_its_vertices() -> None:
    flat: Polygon = (((0.0, 0.0), (2.0, 0.0), (1.0, 0.0), (0.0, 0.0)),)
    assert polygon_centroid(flat) == pytest.approx((1.0, 0.0))


# --- the grid index -----------------------------------------------------------------------------------


def test_index_finds_the_grid_holding_a_fix() -> None:
    cells = lattice(6, 4)
    index = GridIndex(cells)
    for cell in cells:
        lon, lat = polygon_centroid(cell.polygon)
        assert index.locate(lat, lon) == cell


def test_index_finds_nothing_outside_the_city_or_for_a_bad_fix() -> None:
    index = GridIndex(lattice(6, 4))
    assert index.locate(22.70, 115.36) is None
    assert index.locate(0.0, 0.0) is None
    assert index.locate(math.nan, 115.36) is None
    assert GridIndex([]).locate(22.78, 115.36) is None


def test_a_fix_on_a_shared_edge_goes_to_exactly_one_grid() -> None:
    cells = lattice(3, 3)
    index = GridIndex(cells)
    west, south, east, north = cells[4].bbox  # the middle grid
    for lon, lat in [(west, (south + north) / 2), ((west + east) / 2, south), (west, south)]:
        assert index.locate(lat, lon) == cells[4]
        assert sum(point_in_polygon(lon, lat, c.polygon) for c in cells) == 1


def test_a_grid_in_two_parts_is_found_in_either_part() -> None:
    split = GridCell(
        code="441502001001001",
        name_zh="河两岸网格",
        name_en="Riverside Grid",
        polygon=rectangle(0.0, 0.0, 1.0, 1.0),
        extra_polygons=(rectangle(3.0, 0.0, 4.0, 1.0),),
    )
    middle = GridCell(code="441502001001002", name_zh="河", name_en="River", polygon=rectangle(1, 0, 3, 1))
    index = GridIndex([split, middle])
    assert index.locate(0.5, 0.5) == split
    assert index.locate(0.5, 3.5) == split
    assert index.locate(0.5, 2.0) == middle


def test_when_grids_overlap_the_first_given_wins() -> None:
    first = GridCell(code="441502001001001", name_zh="甲", name_en="A", polygon=rectangle(0, 0, 2, 2))
    second = GridCell(code="441502001001002", name_zh="乙", name_en="B", polygon=rectangle(1, 1, 3, 3))
    assert GridIndex([first, second]).locate(1.5, 1.5) == first
    assert GridIndex([second, first]).locate(1.5, 1.5) == second


def test_index_agrees_with_testing_every_grid_including_a_huge_one() -> None:
    cells = [*lattice(10, 10)]
    huge = GridCell(
        code="441502002001001",
        name_zh="郊区网格",
        name_en="Outskirts Grid",
        polygon=rectangle(115.30, 22.70, 115.50, 22.78),  # below the lattice, 1,000 times larger
    )
    cells.append(huge)
    index = GridIndex(cells)
    rng = random.Random(7)
    for _ in range(2000):
        lat, lon = rng.uniform(22.69, 22.80), rng.uniform(115.29, 115.51)
        expected = next((c for c in cells if point_in_polygon(lon, lat, c.polygon)), None)
        assert index.locate(lat, lon) == expected


def test_ten_thousand_lookups_over_500_grids_take_well_under_a_second() -> None:
    index = GridIndex(lattice(25, 20))
    rng = random.Random(1)
    fixes = [(rng.uniform(22.78, 22.80), rng.uniform(115.36, 115.3862)) for _ in range(10_000)]
    began = time.perf_counter()
    found = sum(index.locate(lat, lon) is not None for lat, lon in fixes)
    elapsed = time.perf_counter() - began
    assert found == 10_000
    assert elapsed < 0.5, f"{elapsed:.3f} s"
