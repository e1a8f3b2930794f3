"""Cases out to files a GIS or a spreadsheet opens: GeoJSON and CSV.

Both writers stream: they take any iterable of cases (a store cursor, say) and hold one case at a
time, so a district's hundreds of thousands of cases export in constant memory. Each writes to
`<path>.part` and renames it over `path` at the end, so a failed export never leaves a truncated file
that looks finished.

Times are ISO 8601 with an explicit offset (`2024-03-05T09:00:00+08:00`); the offset is a parameter,
defaulting to China Standard Time, because the people reading these files think in local time.

CSV is UTF-8 *with* a byte-order mark: without it, Excel as installed in China reads UTF-8 as GBK and
shows mojibake. Free-text cells that start with `=`, `+`, `-`, `@`, tab or carriage return get a
leading `'`, so a description typed on a phone can never run as a spreadsheet formula.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from shared.model import Case

CHINA_OFFSET_MINUTES = 480

#: The CSV header, in this order forever: append new columns at the end, never reorder.
CSV_COLUMNS = (
    "case_no",
    "case_id",
    "category",
    "status",
    "grid_code",
    "reporter",
    "department",
    "handler",
    "reported_at",
    "deadline",
    "closed_at",
    "overdue",
    "on_spot",
    "extensions",
    "reworks",
    "lat",
    "lon",
    "accuracy_m",
    "location_source",
    "address",
    "description",
)

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def iso_time(epoch: int | None, utc_offset_minutes: int = CHINA_OFFSET_MINUTES) -> str | None:
    """Epoch seconds as ISO 8601 with the given offset; None stays None."""
    if epoch is None:
        return None
    zone = timezone(timedelta(minutes=utc_offset_minutes))
    return datetime.fromtimestamp(epoch, zone).isoformat()


# --- GeoJSON ---------------------------------------------------------------------------------------


def case_feature(case: Case, utc_offset_minutes: int = CHINA_OFFSET_MINUTES) -> dict[str, Any]:
    """One case as a GeoJSON Feature. A case without a location has `"geometry": null` (RFC 7946
    allows it), so that the count of features always equals the count of cases."""
    geometry = None
    if case.location is not None:
        geometry = {"type": "Point", "coordinates": [case.location.lon, case.location.lat]}
    return {
        "type": "Feature",
        "id": case.case_id,
        "geometry": geometry,
        "properties": {
            "case_no": case.case_no,
            "case_id": case.case_id,
            "category": case.category,
            "status": str(case.status),
            "grid_code": case.grid_code,
            "reported_at": iso_time(case.reported_at, utc_offset_minutes),
            "deadline": iso_time(case.deadline, utc_offset_minutes),
            "closed_at": iso_time(case.closed_at, utc_offset_minutes),
            "overdue": case.overdue,
            "description": case.description,
            "address": case.address,
            "department": case.department,
        },
    }


def cases_to_geojson(cases: Iterable[Case], utc_offset_minutes: int = CHINA_OFFSET_MINUTES) -> dict[str, Any]:
    """A FeatureCollection in memory: for API responses and small sets. Files: `write_geojson`."""
    return {
        "type": "FeatureCollection",
        "features": [case_feature(c, utc_offset_minutes) for c in cases],
    }


def write_geojson(cases: Iterable[Case], path: Path, utc_offset_minutes: int = CHINA_OFFSET_MINUTES) -> int:
    """Write a FeatureCollection to `path` one feature at a time (UTF-8, no BOM: RFC 7946 forbids
    one). Returns the number of cases written."""
    count = 0
    with _replacing(path) as part, part.open("w", encoding="utf-8", newline="\n") as out:
        out.write('{"type": "FeatureCollection", "features": [')
        for case in cases:
            out.write(",\n" if count else "\n")
            out.write(json.dumps(case_feature(case, utc_offset_minutes), ensure_ascii=False))
            count += 1
        out.write("\n]}\n")
    return count


# --- CSV ---------------------------------------------------------------------------------------------


def _text(value: str | None) -> str:
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _number(value: float | None) -> str:
    return "" if value is None else repr(value)


def csv_row(case: Case, utc_offset_minutes: int = CHINA_OFFSET_MINUTES) -> list[str]:
    """One case as CSV cells, in `CSV_COLUMNS` order. Empty cell for a missing value."""
    loc = case.location
    return [
        _text(case.case_no),
        _text(case.case_id),
        _text(case.category),
        str(case.status),
        _text(case.grid_code),
        _text(case.reporter),
        _text(case.department),
        _text(case.handler),
        iso_time(case.reported_at, utc_offset_minutes) or "",
        iso_time(case.deadline, utc_offset_minutes) or "",
        iso_time(case.closed_at, utc_offset_minutes) or "",
        "true" if case.overdue else "false",
        "true" if case.on_spot else "false",
        str(case.extensions),
        str(case.reworks),
        _number(None if loc is None else loc.lat),
        _number(None if loc is None else loc.lon),
        _number(None if loc is None else loc.accuracy_m),
        "" if loc is None else _text(loc.source),
        _text(case.address),
        _text(case.description),
    ]


def csv_rows(cases: Iterable[Case], utc_offset_minutes: int = CHINA_OFFSET_MINUTES) -> Iterator[list[str]]:
    """The header, then one row per case, lazily."""
    yield list(CSV_COLUMNS)
    for case in cases:
        yield csv_row(case, utc_offset_minutes)


def write_csv(cases: Iterable[Case], path: Path, utc_offset_minutes: int = CHINA_OFFSET_MINUTES) -> int:
    """Write the cases as CSV (UTF-8 with BOM, CRLF line ends as RFC 4180 says). Returns the number
    of cases written."""
    count = -1  # the header is the first row
    with _replacing(path) as part, part.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        for row in csv_rows(cases, utc_offset_minutes):
            writer.writerow(row)
            count += 1
    return count


# --- files -------------------------------------------------------------------------------------------


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """Yield `<path>.part`; on success it replaces `path`, on failure it is removed."""
    part = Path(path).with_name(Path(path).name + ".part")
    try:
        yield part
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, path)
