"""Categories, departments and grids: parsing, validation, wire forms, and the shipped demo city."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.catalogue import (
    EVIDENCE_STAGES,
    Catalogue,
    Category,
    Department,
    GridCell,
    catalogue_from_dict,
    catalogue_to_dict,
    categories_csv_parse,
    category_from_dict,
    category_to_dict,
    department_from_dict,
    department_to_dict,
    departments_csv_parse,
    grid_from_dict,
    grid_to_dict,
    grids_from_geojson,
    grids_to_geojson,
)
from shared.errors import GridsyncError
from shared.geo import GridIndex, point_in_polygon, polygon_centroid
from shared.worktime import calendar_from_dict

DEMO = Path(__file__).parents[2] / "sync_server" / "data" / "demo_city"
HEADER = "code,kind,major_name_zh,major_name_en,name_zh,name_en,time_limit_hours,evidence,department\n"
GARBAGE = "5101,event,市容环境,City appearance,暴露垃圾,Exposed garbage,4,before:1;after:1,sanitation\n"
SQUARE = (((115.0, 22.0), (115.001, 22.0), (115.001, 22.001), (115.0, 22.001), (115.0, 22.0)),)


def read(name: str) -> str:
    return (DEMO / name).read_text(encoding="utf-8")


def refusal(call: Callable[..., object], *args: object, **kwargs: object) -> GridsyncError:
    with pytest.raises(GridsyncError) as caught:
        call(*args, **kwargs)
    return caught.value


def category(**changes: object) -> Category:
    fields: dict[str, object] = {
        "code": "5101",
        "kind": "event",
        "name_zh": "暴露垃圾",
        "name_en": "Exposed garbage",
        "major_name_zh": "市容环境",
        "major_name_en": "City appearance",
        "time_limit_hours": 4,
        "department": "sanitation",
        "evidence": (("before", 1), ("after", 1)),
    }
    fields.update(changes)
    return Category(**fields)  # type: ignore[arg-type]


# --- the shipped demo city ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo() -> Catalogue:
    return Catalogue.build(
        categories_csv_parse(read("categories.csv")),
        departments_csv_parse(read("departments.csv")),
        grids_from_geojson(json.loads(read("grids.geojson"))),
    )


def test_demo_city_every_category_is_handled_by_a_known_department(demo: Catalogue) -> None:
    assert len(demo.departments) == 8
    assert {c.department for c in demo.categories.values()} <= set(demo.departments)


def test_demo_city_category_codes_follow_the_national_layout(demo: Catalogue) -> None:
    assert 28 <= len(demo.categories) <= 40
    majors = {kind: {c.major for c in demo.categories_of(kind)} for kind in ("component", "event")}
    assert majors == {
        "component": {"01", "02", "03", "04", "05", "06"},
        "event": {"51", "52", "53", "54", "55", "56"},
    }
    for code, found in demo.categories.items():
        assert len(code) == 4 and code.isdigit() and code == found.code
        assert found.time_limit_hours in {2, 4, 8, 16, 40}
        assert found.evidence_needed()["before"] >= 1 and found.evidence_needed()["after"] >= 1
    names = Counter((c.major, c.major_name_zh) for c in demo.categories.values())
    assert len({major for major, _ in names}) == len(names)  # one name per major class


def test_demo_city_limits_match_the_brief(demo: Catalogue) -> None:
    assert demo.category("5102").time_limit_hours == 2  # 道路不洁
    assert demo.category("5101").time_limit_hours == 4  # 暴露垃圾
    assert demo.category("0402").time_limit_hours == 40  # 绿地: five working days


def test_demo_city_grids_have_unique_15_digit_codes_in_two_streets(demo: Catalogue) -> None:
    cells = list(demo.grids.values())
    assert len(cells) == 24
    assert all(len(c.code) == 15 and c.code.isdigit() and c.admin_code == "441502" for c in cells)
    streets = Counter(c.street_code for c in cells)
    assert set(streets) == {"441502001", "441502002"}
    for street in streets:
        communities = {c.community_code for c in cells if c.street_code == street}
        assert 2 <= len(communities) <= 3
    for cell in cells:
        assert cell.name_zh.endswith(f"第{int(cell.sequence)}网格")
        assert cell.name_en.endswith(f"Grid {int(cell.sequence)}")


def test_demo_city_grids_are_about_a_hundred_metres_near_shanwei(demo: Catalogue) -> None:
    for cell in demo.grids.values():
        west, south, east, north = cell.bbox
        assert 115.35 < west < east < 115.38 and 22.78 < south < north < 22.79
        assert east - west == pytest.approx(0.00105, abs=1e-6)
        assert north - south == pytest.approx(0.001, abs=1e-6)


def test_demo_city_grids_do_not_overlap(demo: Catalogue) -> None:
    cells = list(demo.grids.values())
    west = min(c.bbox[0] for c in cells)
    south = min(c.bbox[1] for c in cells)
    east = max(c.bbox[2] for c in cells)
    north = max(c.bbox[3] for c in cells)
    rng = random.Random(2026)
    # Random points, plus points exactly on every lattice line, where overlaps would show.
    samples = [(rng.uniform(west, east), rng.uniform(south, north)) for _ in range(3000)]
    for cell in cells:
        w, s, e, n = cell.bbox
        samples += [(w, (s + n) / 2), ((w + e) / 2, s), (w, s), (e, n), (e, (s + n) / 2)]
    for lon, lat in samples:
        holders = [c.code for c in cells if point_in_polygon(lon, lat, c.polygon)]
        assert len(holders) <= 1, (lon, lat, holders)
        if west <= lon < east and south <= lat < north:
            assert len(holders) == 1, (lon, lat)  # the lattice has no gaps either


def test_demo_city_index_locates_each_grid_centroid_to_itself(demo: Catalogue) -> None:
    index = GridIndex(demo.grids.values())
    for cell in demo.grids.values():
        lon, lat = polygon_centroid(cell.polygon)
        assert index.locate(lat, lon) == cell


def test_demo_city_calendar_loads(demo: Catalogue) -> None:
    config = json.loads(read("calendar.json"))
    assert "State Council" in config["source"]
    assert calendar_from_dict(config).hours_per_day == 8


def test_demo_city_survives_the_trip_to_a_phone(demo: Catalogue) -> None:
    back = catalogue_from_dict(json.loads(json.dumps(catalogue_to_dict(demo), ensure_ascii=False)))
    assert back.categories == demo.categories
    assert back.departments == demo.departments
    assert back.grids == demo.grids


# --- categories -----------------------------------------------------------------------------------------


def test_category_major_comes_from_its_code() -> None:
    assert category().major == "51"
    assert category(major="51").major == "51"
    assert refusal(category, major="52").code == "request.malformed"


def test_category_names_follow_the_language() -> None:
    found = category()
    assert found.name("zh-CN") == "暴露垃圾"
    assert found.name("en") == "Exposed garbage"
    assert found.major_name("zh") == "市容环境"


def test_evidence_needed_lists_every_stage() -> None:
    assert category().evidence_needed() == {"before": 1, "after": 1, "verification": 0}
    assert list(category().evidence_needed()) == list(EVIDENCE_STAGES)


def test_evidence_order_and_zero_counts_do_not_make_categories_differ() -> None:
    a = category(evidence=(("after", 1), ("before", 1), ("verification", 0)))
    assert a == category() and hash(a) == hash(category())


@pytest.mark.parametrize(
    "changes",
    [
        {"code": "511"},
        {"code": "51O1"},
        {"code": "5100"},
        {"kind": "incident"},
        {"kind": "component"},  # major 51 is an event class
        {"code": "0101"},  # major 01 is a component class, but kind says event
        {"name_zh": ""},
        {"name_en": " Exposed garbage"},
        {"time_limit_hours": 0},
        {"time_limit_hours": float("nan")},
        {"time_limit_hours": "4"},
        {"department": "环卫所"},
        {"evidence": (("during", 1),)},
        {"evidence": (("before", 1), ("before", 2))},
        {"evidence": (("before", -1),)},
        {"evidence": [("before", 1)]},
    ],
)
def test_invalid_categories_are_refused(changes: dict[str, object]) -> None:
    assert refusal(category, **changes).code == "request.malformed"


def test_categories_csv_accepts_a_spreadsheet_bom_quotes_and_blank_lines() -> None:
    quoted = '5102,event,市容环境,City appearance,道路不洁,"Dirty street, pavement",2,,sanitation\n'
    parsed = categories_csv_parse("\ufeff" + HEADER + GARBAGE + "\n" + quoted)
    assert [c.code for c in parsed] == ["5101", "5102"]
    assert parsed[1].name_en == "Dirty street, pavement"
    assert parsed[1].evidence_needed() == {"before": 0, "after": 0, "verification": 0}


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("", "empty"),
        ("code,kind\n", "line 1"),
        (HEADER + GARBAGE + GARBAGE, "line 3"),
        (HEADER + GARBAGE + GARBAGE.replace("5101", "51x1"), "line 3"),
        (HEADER + GARBAGE.replace(",4,", ",four,"), "line 2"),
        (HEADER + GARBAGE.replace("before:1;after:1", "before=1"), "line 2"),
        (HEADER + GARBAGE.replace(",sanitation", ""), "line 2"),
        (HEADER + '5101,event,"unclosed\n', "line"),
    ],
)
def test_malformed_categories_csv_is_refused_naming_the_line(text: str, where: str) -> None:
    error = refusal(categories_csv_parse, text)
    assert error.code == "request.malformed"
    assert where in error.detail


def test_a_category_whose_department_is_unknown_is_refused() -> None:
    error = refusal(
        Catalogue.build, [category(department="nobody")], [Department("sanitation", "环卫所", "Sanitation")]
    )
    assert "nobody" in error.detail


def test_departments_csv_parses_and_refuses_duplicates() -> None:
    text = "code,name_zh,name_en\nsanitation,环卫所,Sanitation\nwater,水务局,Water Affairs\n"
    assert [d.name("zh") for d in departments_csv_parse(text)] == ["环卫所", "水务局"]
    assert "line 4" in refusal(departments_csv_parse, text + "water,水务,Water\n").detail


def test_category_and_department_dicts_round_trip_and_ignore_unknown_keys() -> None:
    wire = category_to_dict(category())
    assert wire["evidence"] == {"before": 1, "after": 1}
    assert category_from_dict({**wire, "added_in_a_later_version": 1}) == category()
    department = Department("sanitation", "环卫所", "Sanitation")
    assert department_from_dict(department_to_dict(department)) == department


def test_category_dict_missing_a_field_is_refused() -> None:
    wire = category_to_dict(category())
    del wire["name_en"]
    assert refusal(category_from_dict, wire).code == "request.malformed"
    assert refusal(category_from_dict, {**category_to_dict(category()), "time_limit_hours": True})


def test_catalogue_lookups_refuse_unknown_codes_with_their_own_errors(demo: Catalogue) -> None:
    assert refusal(demo.category, "9999").code == "case.unknown_category"
    assert refusal(demo.grid, "441502009009009").code == "case.no_grid"
    assert refusal(demo.department, "nobody").code == "request.malformed"
    assert demo.department("sanitation").name("zh") == "环境卫生管理所"


def test_duplicate_codes_in_a_catalogue_are_refused() -> None:
    sanitation = Department("sanitation", "环卫所", "Sanitation")
    assert refusal(Catalogue.build, [category(), category()], [sanitation])
    assert refusal(Catalogue.build, [], [sanitation, sanitation])


# --- grids ------------------------------------------------------------------------------------------------


def grid(**changes: object) -> GridCell:
    fields: dict[str, object] = {
        "code": "441502001002003",
        "name_zh": "凤山街道 凤苑社区 第3网格",
        "name_en": "Fengshan St. Fengyuan Cmty Grid 3",
        "polygon": SQUARE,
    }
    fields.update(changes)
    return GridCell(**fields)  # type: ignore[arg-type]


def test_grid_code_names_its_street_and_community() -> None:
    cell = grid()
    assert (cell.admin_code, cell.street_code, cell.community_code, cell.sequence) == (
        "441502",
        "441502001",
        "441502001002",
        "003",
    )
    assert cell.bbox == (115.0, 22.0, 115.001, 22.001)
    assert cell.name("zh-CN").startswith("凤山街道")


def test_integer_coordinates_are_kept_as_floats() -> None:
    cell = grid(polygon=(((0, 0), (1, 0), (1, 1), (0, 0)),))
    assert all(isinstance(v, float) for position in cell.polygon[0] for v in position)


@pytest.mark.parametrize(
    "changes",
    [
        {"code": "44150200100200"},
        {"code": "44150200100200x"},
        {"name_en": ""},
        {"polygon": ()},
        {"polygon": (((0.0, 0.0), (1.0, 0.0), (0.0, 0.0)),)},  # too few positions
        {"polygon": (((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)),)},  # not closed
        {"polygon": (((0.0, 0.0), (200.0, 0.0), (1.0, 1.0), (0.0, 0.0)),)},  # longitude out of range
        {"polygon": (((0.0, 0.0), (1.0, float("nan")), (1.0, 1.0), (0.0, 0.0)),)},
        {"extra_polygons": SQUARE},  # a polygon where a tuple of polygons belongs
    ],
)
def test_invalid_grids_are_refused(changes: dict[str, object]) -> None:
    assert refusal(grid, **changes).code == "request.malformed"


def test_grids_round_trip_through_geojson_including_multipolygons() -> None:
    far = (((116.0, 23.0), (116.001, 23.0), (116.001, 23.001), (116.0, 23.0)),)
    cells = [grid(), grid(code="441502001002004", extra_polygons=(far,))]
    collection = grids_to_geojson(cells)
    features = collection["features"]
    assert isinstance(features, list)
    assert [f["geometry"]["type"] for f in features] == ["Polygon", "MultiPolygon"]
    assert grids_from_geojson(json.loads(json.dumps(collection))) == cells
    assert grid_from_dict(grid_to_dict(cells[1])).bbox == (115.0, 22.0, 116.001, 23.001)


def test_a_third_coordinate_altitude_is_dropped() -> None:
    feature = grid_to_dict(grid())
    geometry = feature["geometry"]
    assert isinstance(geometry, dict)
    geometry["coordinates"] = [[[*p, 5.0] for p in ring] for ring in geometry["coordinates"]]
    assert grid_from_dict(feature) == grid()


def bad_feature(kind: str) -> dict[str, object]:
    feature = grid_to_dict(grid())
    if kind == "point":
        feature["geometry"] = {"type": "Point", "coordinates": [115.0, 22.0]}
    elif kind == "no properties":
        del feature["properties"]
    elif kind == "short code":
        feature["properties"] = {"code": "4415", "name_zh": "网格", "name_en": "Grid"}
    elif kind == "text coordinates":
        feature["geometry"] = {"type": "Polygon", "coordinates": [[["115", "22"]] * 4]}
    return feature


@pytest.mark.parametrize("kind", ["point", "no properties", "short code", "text coordinates"])
def test_malformed_grid_features_are_refused_naming_the_feature(kind: str) -> None:
    good = grid_to_dict(grid(code="441502001002001"))
    error = refusal(grids_from_geojson, {"type": "FeatureCollection", "features": [good, bad_feature(kind)]})
    assert error.code == "request.malformed"
    assert "feature 1" in error.detail


def test_grid_collections_must_be_feature_collections_without_repeated_codes() -> None:
    assert refusal(grids_from_geojson, {"type": "Feature"}).code == "request.malformed"
    assert refusal(grids_from_geojson, {"type": "FeatureCollection", "features": {}})
    twice = grids_to_geojson([grid(), grid()])
    assert "feature 1" in refusal(grids_from_geojson, twice).detail
