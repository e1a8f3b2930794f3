"""GeoJSON and CSV export: shapes, Excel-friendly CSV, streaming, and no half-written files."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from shared.model import Case, Location, Status
from sync_server.export import CSV_COLUMNS, cases_to_geojson, iso_time, write_csv, write_geojson

CST = timezone(timedelta(hours=8))
REPORTED = int(datetime(2024, 3, 5, 9, 0, tzinfo=CST).timestamp())


def make_case(n: int = 1, **changes: object) -> Case:
    case = Case(
        case_id=f"c-{n:05d}",
        case_no=f"SW2024{n:06d}",
        category="0103",
        reporter="w1",
        status=Status.CLOSED,
        description="井盖破损，行人易绊倒",
        location=Location(22.7812, 115.3751, 4.5, "gps"),
        grid_code="441502001001001",
        address="汕尾市城区二马路 12 号",
        department="water",
        handler="h1",
        reported_at=REPORTED,
        deadline=REPORTED + 4 * 3600,
        closed_at=REPORTED + 2 * 3600,
        overdue=False,
    )
    for name, value in changes.items():
        setattr(case, name, value)
    return case


def test_iso_time_carries_the_offset() -> None:
    assert iso_time(REPORTED) == "2024-03-05T09:00:00+08:00"
    assert iso_time(REPORTED, 0) == "2024-03-05T01:00:00+00:00"
    assert iso_time(None) is None


# --- GeoJSON ------------------------------------------------------------------------------------------


def test_geojson_feature_is_a_lon_lat_point_with_the_case_properties() -> None:
    collection = cases_to_geojson([make_case()])
    assert collection["type"] == "FeatureCollection"
    [feature] = collection["features"]
    assert feature["type"] == "Feature"
    assert feature["geometry"] == {"type": "Point", "coordinates": [115.3751, 22.7812]}
    assert feature["properties"] == {
        "case_no": "SW2024000001",
        "case_id": "c-00001",
        "category": "0103",
        "status": "closed",
        "grid_code": "441502001001001",
        "reported_at": "2024-03-05T09:00:00+08:00",
        "deadline": "2024-03-05T13:00:00+08:00",
        "closed_at": "2024-03-05T11:00:00+08:00",
        "overdue": False,
        "description": "井盖破损，行人易绊倒",
        "address": "汕尾市城区二马路 12 号",
        "department": "water",
    }


def test_case_without_location_is_a_feature_with_null_geometry() -> None:
    [feature] = cases_to_geojson([make_case(location=None, deadline=None, closed_at=None)])["features"]
    assert feature["geometry"] is None
    assert (feature["properties"]["deadline"], feature["properties"]["closed_at"]) == (None, None)


def test_written_geojson_is_the_same_collection_in_utf8(tmp_path: Path) -> None:
    cases = [make_case(n) for n in range(3)]
    path = tmp_path / "cases.geojson"
    assert write_geojson(iter(cases), path) == 3
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")  # RFC 7946: no BOM
    assert "井盖破损".encode() in raw  # readable Chinese, not \\u escapes
    assert json.loads(raw) == cases_to_geojson(cases)


def test_empty_export_is_a_valid_empty_collection(tmp_path: Path) -> None:
    path = tmp_path / "none.geojson"
    assert write_geojson([], path) == 0
    assert json.loads(path.read_text("utf-8")) == {"type": "FeatureCollection", "features": []}


# --- CSV ----------------------------------------------------------------------------------------------


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def test_csv_starts_with_a_bom_and_the_stable_header(tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    assert write_csv([make_case()], path) == 1
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfcase_no,case_id,category,status,")
    assert b"\r\n" in raw
    assert read_csv(path)[0] == list(CSV_COLUMNS)


def test_csv_row_holds_local_times_and_every_column(tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    write_csv([make_case()], path)
    row = dict(zip(CSV_COLUMNS, read_csv(path)[1], strict=True))
    assert row == {
        "case_no": "SW2024000001",
        "case_id": "c-00001",
        "category": "0103",
        "status": "closed",
        "grid_code": "441502001001001",
        "reporter": "w1",
        "department": "water",
        "handler": "h1",
        "reported_at": "2024-03-05T09:00:00+08:00",
        "deadline": "2024-03-05T13:00:00+08:00",
        "closed_at": "2024-03-05T11:00:00+08:00",
        "overdue": "false",
        "on_spot": "false",
        "extensions": "0",
        "reworks": "0",
        "lat": "22.7812",
        "lon": "115.3751",
        "accuracy_m": "4.5",
        "location_source": "gps",
        "address": "汕尾市城区二马路 12 号",
        "description": "井盖破损，行人易绊倒",
    }


def test_csv_offset_is_a_parameter_and_missing_values_are_empty(tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    write_csv([make_case(location=None, department=None, closed_at=None)], path, utc_offset_minutes=0)
    row = dict(zip(CSV_COLUMNS, read_csv(path)[1], strict=True))
    assert row["reported_at"] == "2024-03-05T01:00:00+00:00"
    assert (row["closed_at"], row["department"], row["lat"], row["location_source"]) == ("", "", "", "")


def test_csv_text_that_looks_like_a_formula_is_defused_and_newlines_survive(tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    write_csv([make_case(description='=HYPERLINK("http://x")', address="-1 楼\n地下室")], path)
    row = dict(zip(CSV_COLUMNS, read_csv(path)[1], strict=True))
    assert row["description"] == '\'=HYPERLINK("http://x")'
    assert row["address"] == "'-1 楼\n地下室"


# --- streaming and failure ----------------------------------------------------------------------------


@pytest.mark.parametrize("writer", [write_csv, write_geojson])
def test_writers_stream_rows_to_disk_as_the_cases_arrive(tmp_path: Path, writer: object) -> None:
    path = tmp_path / "big.out"
    part = tmp_path / "big.out.part"
    seen_on_disk: list[int] = []

    def cases() -> Iterator[Case]:
        for n in range(3000):
            if n == 2500:
                seen_on_disk.append(part.stat().st_size)
            yield make_case(n)

    assert writer(cases(), path) == 3000  # type: ignore[operator]
    assert seen_on_disk and seen_on_disk[0] > 100_000  # most rows were written before the last arrived
    assert not part.exists()


@pytest.mark.parametrize("writer", [write_csv, write_geojson])
def test_failed_export_leaves_neither_the_old_file_half_replaced_nor_a_part(
    tmp_path: Path, writer: object
) -> None:
    path = tmp_path / "cases.out"
    path.write_text("previous export", "utf-8")

    def failing() -> Iterator[Case]:
        yield make_case(1)
        raise RuntimeError("store went away")

    with pytest.raises(RuntimeError):
        writer(failing(), path)  # type: ignore[operator]
    assert path.read_text("utf-8") == "previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["cases.out"]
