"""The city's catalogue: case categories, departments and unit grids, and their wire forms.

Loaders take text or parsed JSON that the caller has already read (shared/ does no I/O) and return
frozen values. Every refusal is `GridsyncError("request.malformed")` whose detail names the CSV line
or the GeoJSON feature, so whoever maintains a city's files can find the mistake.

Codes follow the national 数字城管 standard (GB/T 30428-style):
- a category code is 4 digits, 2-digit major class + 2-digit minor class. Components (部件) use
  majors 01–49, events (事件) majors 50–99, so one code names one category whatever its kind;
- a unit grid code is 15 digits: 6 admin + 3 street + 3 community + 3 sequence.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, cast

from shared.errors import GridsyncError

CategoryKind = Literal["component", "event"]
KINDS: tuple[CategoryKind, ...] = ("component", "event")
EVIDENCE_STAGES = ("before", "after", "verification")

Position = tuple[float, float]  # (lon, lat), GeoJSON order
Ring = tuple[Position, ...]  # closed: first position == last
Polygon = tuple[Ring, ...]  # first ring outer, the others holes
BBox = tuple[float, float, float, float]  # (min_lon, min_lat, max_lon, max_lat)

CATEGORY_COLUMNS = (
    "code",
    "kind",
    "major_name_zh",
    "major_name_en",
    "name_zh",
    "name_en",
    "time_limit_hours",
    "evidence",
    "department",
)
DEPARTMENT_COLUMNS = ("code", "name_zh", "name_en")
_MAX_LIMIT_HOURS = 10_000.0


def _malformed(detail: str) -> GridsyncError:
    return GridsyncError("request.malformed", detail)


def _is_digits(text: str, n: int) -> bool:
    return len(text) == n and text.isascii() and text.isdigit()


def _check_name(what: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise _malformed(f"{what} must be non-empty text without surrounding spaces: {value!r}")


def _check_department_code(code: object) -> None:
    ok = isinstance(code, str) and 0 < len(code) <= 32 and code.isascii()
    if not (ok and isinstance(code, str) and all(c.isalnum() or c in "_.-" for c in code)):
        raise _malformed(f"department code must be 1-32 letters, digits, '_', '.' or '-': {code!r}")


def _choose(lang: str, zh: str, en: str) -> str:
    return zh if lang.startswith("zh") else en


# --- values -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Department:
    code: str
    name_zh: str
    name_en: str

    def __post_init__(self) -> None:
        _check_department_code(self.code)
        _check_name("department name_zh", self.name_zh)
        _check_name("department name_en", self.name_en)

    def name(self, lang: str = "en") -> str:
        return _choose(lang, self.name_zh, self.name_en)


@dataclass(frozen=True, slots=True, kw_only=True)
class Category:
    """One kind of problem a worker can report. `time_limit_hours` counts *working* hours
    (8 to a working day); `evidence` is (stage, minimum photos) pairs in stage order."""

    code: str
    kind: CategoryKind
    name_zh: str
    name_en: str
    major_name_zh: str
    major_name_en: str
    time_limit_hours: float
    department: str
    evidence: tuple[tuple[str, int], ...] = ()
    major: str = ""  # derived from the code when left empty

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not _is_digits(self.code, 4):
            raise _malformed(f"category code must be 4 digits: {self.code!r}")
        major, minor = self.code[:2], self.code[2:]
        if minor == "00":
            raise _malformed(f"category {self.code}: minor class 00 does not exist")
        if self.major and self.major != major:
            raise _malformed(f"category {self.code}: major {self.major!r} does not match the code")
        object.__setattr__(self, "major", major)
        if self.kind not in KINDS:
            raise _malformed(f"category {self.code}: kind must be one of {KINDS}: {self.kind!r}")
        if (self.kind == "component") != ("01" <= major <= "49"):
            raise _malformed(f"category {self.code}: components use majors 01-49, events 50-99")
        for what in ("name_zh", "name_en", "major_name_zh", "major_name_en"):
            _check_name(f"category {self.code} {what}", getattr(self, what))
        limit = self.time_limit_hours
        if isinstance(limit, bool) or not isinstance(limit, (int, float)):
            raise _malformed(f"category {self.code}: time_limit_hours must be a number: {limit!r}")
        if not (math.isfinite(limit) and 0 < limit <= _MAX_LIMIT_HOURS):
            raise _malformed(f"category {self.code}: time_limit_hours out of range: {limit!r}")
        object.__setattr__(self, "time_limit_hours", float(limit))
        _check_department_code(self.department)
        object.__setattr__(self, "evidence", _normalised_evidence(self.code, self.evidence))

    def name(self, lang: str = "en") -> str:
        return _choose(lang, self.name_zh, self.name_en)

    def major_name(self, lang: str = "en") -> str:
        return _choose(lang, self.major_name_zh, self.major_name_en)

    def evidence_needed(self) -> dict[str, int]:
        """Minimum photos per stage to close, every stage present (0 when none is needed)."""
        needed = dict.fromkeys(EVIDENCE_STAGES, 0)
        needed.update(self.evidence)
        return needed


def _normalised_evidence(code: str, evidence: object) -> tuple[tuple[str, int], ...]:
    if not isinstance(evidence, tuple):
        raise _malformed(f"category {code}: evidence must be a tuple of (stage, count) pairs")
    counts: dict[str, int] = {}
    for pair in evidence:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise _malformed(f"category {code}: evidence entry must be (stage, count): {pair!r}")
        stage, count = pair
        if stage not in EVIDENCE_STAGES:
            raise _malformed(f"category {code}: unknown evidence stage {stage!r}")
        if stage in counts:
            raise _malformed(f"category {code}: evidence stage {stage!r} given twice")
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 20:
            raise _malformed(f"category {code}: evidence count must be 0-20: {count!r}")
        counts[stage] = count
    # Stage order, zero counts dropped: equal requirements give equal (and equally hashed) values.
    return tuple((s, counts[s]) for s in EVIDENCE_STAGES if counts.get(s))


@dataclass(frozen=True, slots=True, kw_only=True)
class GridCell:
    """A unit grid (单元网格). `polygon` is its (main) area; a grid split by a river or a road keeps
    its other parts in `extra_polygons` (a GeoJSON MultiPolygon). `bbox` covers all parts."""

    code: str
    name_zh: str
    name_en: str
    polygon: Polygon
    extra_polygons: tuple[Polygon, ...] = ()
    bbox: BBox = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not _is_digits(self.code, 15):
            raise _malformed(f"grid code must be 15 digits: {self.code!r}")
        _check_name(f"grid {self.code} name_zh", self.name_zh)
        _check_name(f"grid {self.code} name_en", self.name_en)
        if not isinstance(self.extra_polygons, tuple):
            raise _malformed(f"grid {self.code}: extra_polygons must be a tuple of polygons")
        object.__setattr__(self, "polygon", _checked_polygon(self.code, self.polygon))
        object.__setattr__(
            self, "extra_polygons", tuple(_checked_polygon(self.code, p) for p in self.extra_polygons)
        )
        outer = [p for polygon in self.polygons for p in polygon[0]]
        lons = [p[0] for p in outer]
        lats = [p[1] for p in outer]
        object.__setattr__(self, "bbox", (min(lons), min(lats), max(lons), max(lats)))

    @property
    def polygons(self) -> tuple[Polygon, ...]:
        return (self.polygon, *self.extra_polygons)

    @property
    def admin_code(self) -> str:
        """The 6-digit administrative division (district) code."""
        return self.code[:6]

    @property
    def street_code(self) -> str:
        """The street (街道) as its 9-digit prefix, unique across the country (admin + street)."""
        return self.code[:9]

    @property
    def community_code(self) -> str:
        """The community (社区) as its 12-digit prefix (admin + street + community)."""
        return self.code[:12]

    @property
    def sequence(self) -> str:
        return self.code[12:]

    def name(self, lang: str = "en") -> str:
        return _choose(lang, self.name_zh, self.name_en)


def _checked_polygon(code: str, polygon: object) -> Polygon:
    """The polygon with float coordinates, or a refusal: rings closed, at least 4 positions each."""
    if not isinstance(polygon, tuple) or not polygon:
        raise _malformed(f"grid {code}: a polygon is a non-empty tuple of rings")
    rings: list[Ring] = []
    for ring in polygon:
        if not isinstance(ring, tuple) or len(ring) < 4:
            raise _malformed(f"grid {code}: a ring needs at least 4 positions")
        positions: list[Position] = []
        for position in ring:
            if not (isinstance(position, tuple) and len(position) == 2):
                raise _malformed(f"grid {code}: a position is (lon, lat): {position!r}")
            lon, lat = position
            numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in position)
            if not numbers or not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
                raise _malformed(f"grid {code}: not a (lon, lat) position: {position!r}")
            positions.append((float(lon), float(lat)))
        if positions[0] != positions[-1]:
            raise _malformed(f"grid {code}: a ring must end where it starts")
        rings.append(tuple(positions))
    return tuple(rings)


# --- the catalogue ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Catalogue:
    """Categories, departments and grids by code. Build it with `Catalogue.build`, which checks
    that codes are unique and that every category's department exists."""

    categories: Mapping[str, Category]
    departments: Mapping[str, Department]
    grids: Mapping[str, GridCell]

    @classmethod
    def build(
        cls,
        categories: Iterable[Category],
        departments: Iterable[Department],
        grids: Iterable[GridCell] = (),
    ) -> Catalogue:
        by_code: dict[str, Department] = {}
        for department in departments:
            if department.code in by_code:
                raise _malformed(f"department {department.code} given twice")
            by_code[department.code] = department
        cats: dict[str, Category] = {}
        for category in categories:
            if category.code in cats:
                raise _malformed(f"category {category.code} given twice")
            if category.department not in by_code:
                raise _malformed(f"category {category.code}: no department {category.department!r}")
            cats[category.code] = category
        cells: dict[str, GridCell] = {}
        for cell in grids:
            if cell.code in cells:
                raise _malformed(f"grid {cell.code} given twice")
            cells[cell.code] = cell
        return cls(categories=cats, departments=by_code, grids=cells)

    def category(self, code: str) -> Category:
        found = self.categories.get(code)
        if found is None:
            raise GridsyncError("case.unknown_category", f"no category {code!r}")
        return found

    def department(self, code: str) -> Department:
        found = self.departments.get(code)
        if found is None:
            raise _malformed(f"no department {code!r}")
        return found

    def grid(self, code: str) -> GridCell:
        found = self.grids.get(code)
        if found is None:
            raise GridsyncError("case.no_grid", f"no grid {code!r}")
        return found

    def categories_of(self, kind: CategoryKind) -> list[Category]:
        return [c for c in self.categories.values() if c.kind == kind]


# --- CSV ----------------------------------------------------------------------------------------


def _csv_rows(text: str, columns: tuple[str, ...], what: str) -> Iterable[tuple[int, dict[str, str]]]:
    """(line number, row) pairs; the header must name exactly `columns`. A UTF-8 BOM (as
    spreadsheet programs save it) and blank lines are tolerated."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise _malformed(f"{what}: empty file") from None
    except csv.Error as e:
        raise _malformed(f"{what} line 1: {e}") from None
    if tuple(h.strip() for h in header) != columns:
        raise _malformed(f"{what} line 1: header must be {','.join(columns)}")
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise _malformed(f"{what} line {reader.line_num}: {e}") from None
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(columns):
            raise _malformed(f"{what} line {reader.line_num}: {len(row)} fields, expected {len(columns)}")
        yield reader.line_num, {c: v.strip() for c, v in zip(columns, row, strict=True)}


def _at(where: str, error: GridsyncError) -> GridsyncError:
    return GridsyncError(error.code, f"{where}: {error.detail}")


def evidence_parse(text: str) -> tuple[tuple[str, int], ...]:
    """`before:1;after:1;verification:1` → pairs. Empty text means no photos are required."""
    pairs: list[tuple[str, int]] = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        stage, sep, count = (s.strip() for s in part.partition(":"))
        if not (sep and count.isascii() and count.isdigit()):
            raise _malformed(f"evidence must look like before:1;after:1, not {part!r}")
        pairs.append((stage, int(count)))
    return tuple(pairs)


def categories_csv_parse(text: str) -> list[Category]:
    categories: list[Category] = []
    seen: set[str] = set()
    for line, row in _csv_rows(text, CATEGORY_COLUMNS, "categories.csv"):
        try:
            limit = float(row["time_limit_hours"])
        except ValueError:
            raise _malformed(f"categories.csv line {line}: time_limit_hours is not a number") from None
        try:
            category = Category(
                code=row["code"],
                kind=cast(CategoryKind, row["kind"]),
                name_zh=row["name_zh"],
                name_en=row["name_en"],
                major_name_zh=row["major_name_zh"],
                major_name_en=row["major_name_en"],
                time_limit_hours=limit,
                department=row["department"],
                evidence=evidence_parse(row["evidence"]),
            )
        except GridsyncError as e:
            raise _at(f"categories.csv line {line}", e) from None
        if category.code in seen:
            raise _malformed(f"categories.csv line {line}: category {category.code} given twice")
        seen.add(category.code)
        categories.append(category)
    return categories


def departments_csv_parse(text: str) -> list[Department]:
    departments: list[Department] = []
    seen: set[str] = set()
    for line, row in _csv_rows(text, DEPARTMENT_COLUMNS, "departments.csv"):
        try:
            department = Department(row["code"], row["name_zh"], row["name_en"])
        except GridsyncError as e:
            raise _at(f"departments.csv line {line}", e) from None
        if department.code in seen:
            raise _malformed(f"departments.csv line {line}: department {department.code} given twice")
        seen.add(department.code)
        departments.append(department)
    return departments


# --- JSON transport -----------------------------------------------------------------------------


def _text(obj: Mapping[str, object], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise _malformed(f"{where}: {key} must be text")
    return value


def category_to_dict(category: Category) -> dict[str, object]:
    return {
        "code": category.code,
        "kind": category.kind,
        "major_name_zh": category.major_name_zh,
        "major_name_en": category.major_name_en,
        "name_zh": category.name_zh,
        "name_en": category.name_en,
        "time_limit_hours": category.time_limit_hours,
        "evidence": dict(category.evidence),
        "department": category.department,
    }


def category_from_dict(obj: Mapping[str, object]) -> Category:
    """Unknown keys are ignored, so an older phone accepts a newer server's categories."""
    if not isinstance(obj, Mapping):
        raise _malformed("category must be an object")
    where = f"category {obj.get('code')!r}"
    evidence = obj.get("evidence", {})
    if not isinstance(evidence, Mapping):
        raise _malformed(f"{where}: evidence must be an object of stage: count")
    limit = obj.get("time_limit_hours")
    if isinstance(limit, bool) or not isinstance(limit, (int, float)):
        raise _malformed(f"{where}: time_limit_hours must be a number")
    return Category(
        code=_text(obj, "code", where),
        kind=cast(CategoryKind, _text(obj, "kind", where)),
        name_zh=_text(obj, "name_zh", where),
        name_en=_text(obj, "name_en", where),
        major_name_zh=_text(obj, "major_name_zh", where),
        major_name_en=_text(obj, "major_name_en", where),
        time_limit_hours=float(limit),
        department=_text(obj, "department", where),
        evidence=tuple((str(stage), cast(int, n)) for stage, n in evidence.items()),
    )


def department_to_dict(department: Department) -> dict[str, object]:
    return {"code": department.code, "name_zh": department.name_zh, "name_en": department.name_en}


def department_from_dict(obj: Mapping[str, object]) -> Department:
    if not isinstance(obj, Mapping):
        raise _malformed("department must be an object")
    where = f"department {obj.get('code')!r}"
    return Department(_text(obj, "code", where), _text(obj, "name_zh", where), _text(obj, "name_en", where))


# --- GeoJSON ------------------------------------------------------------------------------------


def _position(value: object, where: str) -> Position:
    if not isinstance(value, list) or len(value) not in (2, 3):
        raise _malformed(f"{where}: a position is [lon, lat]")
    lon, lat = value[0], value[1]  # a third value (altitude) is allowed by GeoJSON and dropped
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in (lon, lat)):
        raise _malformed(f"{where}: coordinates must be numbers")
    return (float(lon), float(lat))


def _polygon(value: object, where: str) -> Polygon:
    if not isinstance(value, list) or not value:
        raise _malformed(f"{where}: a polygon is a list of rings")
    rings: list[Ring] = []
    for ring in value:
        if not isinstance(ring, list):
            raise _malformed(f"{where}: a ring is a list of positions")
        rings.append(tuple(_position(p, where) for p in ring))
    return tuple(rings)


def _polygon_json(polygon: Polygon) -> list[list[list[float]]]:
    return [[[lon, lat] for lon, lat in ring] for ring in polygon]


def grid_to_dict(cell: GridCell) -> dict[str, object]:
    """A grid travels as a GeoJSON Feature (Polygon, or MultiPolygon when it has several parts)."""
    geometry: dict[str, object]
    if cell.extra_polygons:
        geometry = {"type": "MultiPolygon", "coordinates": [_polygon_json(p) for p in cell.polygons]}
    else:
        geometry = {"type": "Polygon", "coordinates": _polygon_json(cell.polygon)}
    return {
        "type": "Feature",
        "id": cell.code,
        "properties": {"code": cell.code, "name_zh": cell.name_zh, "name_en": cell.name_en},
        "geometry": geometry,
    }


def grid_from_dict(obj: Mapping[str, object], where: str = "grid feature") -> GridCell:
    """Parse one GeoJSON Feature whose properties hold code, name_zh and name_en."""
    if not isinstance(obj, Mapping) or obj.get("type") != "Feature":
        raise _malformed(f"{where}: not a GeoJSON Feature")
    properties = obj.get("properties")
    geometry = obj.get("geometry")
    if not isinstance(properties, Mapping) or not isinstance(geometry, Mapping):
        raise _malformed(f"{where}: a feature needs properties and geometry")
    where = f"{where} ({properties.get('code')!r})"
    kind, coordinates = geometry.get("type"), geometry.get("coordinates")
    if kind == "Polygon":
        polygons = [_polygon(coordinates, where)]
    elif kind == "MultiPolygon" and isinstance(coordinates, list) and coordinates:
        polygons = [_polygon(p, where) for p in coordinates]
    else:
        raise _malformed(f"{where}: geometry must be a non-empty Polygon or MultiPolygon")
    try:
        return GridCell(
            code=_text(properties, "code", where),
            name_zh=_text(properties, "name_zh", where),
            name_en=_text(properties, "name_en", where),
            polygon=polygons[0],
            extra_polygons=tuple(polygons[1:]),
        )
    except GridsyncError as e:
        raise _at(where, e) from None


def grids_from_geojson(obj: Mapping[str, object]) -> list[GridCell]:
    """A FeatureCollection of grids; codes must be unique. Errors name the feature's index."""
    if not isinstance(obj, Mapping) or obj.get("type") != "FeatureCollection":
        raise _malformed("grids: not a GeoJSON FeatureCollection")
    features = obj.get("features")
    if not isinstance(features, list):
        raise _malformed("grids: features must be a list")
    cells: list[GridCell] = []
    seen: set[str] = set()
    for index, feature in enumerate(features):
        cell = grid_from_dict(feature, f"grids feature {index}")
        if cell.code in seen:
            raise _malformed(f"grids feature {index}: grid {cell.code} given twice")
        seen.add(cell.code)
        cells.append(cell)
    return cells


def grids_to_geojson(cells: Iterable[GridCell]) -> dict[str, object]:
    return {"type": "FeatureCollection", "features": [grid_to_dict(c) for c in cells]}


def catalogue_to_dict(catalogue: Catalogue) -> dict[str, object]:
    """The whole catalogue as one JSON document, as a phone downloads it."""
    return {
        "categories": [category_to_dict(c) for c in catalogue.categories.values()],
        "departments": [department_to_dict(d) for d in catalogue.departments.values()],
        "grids": grids_to_geojson(catalogue.grids.values()),
    }


def catalogue_from_dict(obj: Mapping[str, object]) -> Catalogue:
    if not isinstance(obj, Mapping):
        raise _malformed("catalogue must be an object")
    categories, departments = obj.get("categories"), obj.get("departments")
    if not isinstance(categories, list) or not isinstance(departments, list):
        raise _malformed("catalogue: categories and departments must be lists")
    grids = obj.get("grids", {"type": "FeatureCollection", "features": []})
    if not isinstance(grids, Mapping):
        raise _malformed("catalogue: grids must be a FeatureCollection")
    return Catalogue.build(
        [category_from_dict(c) for c in categories],
        [department_from_dict(d) for d in departments],
        grids_from_geojson(grids),
    )
