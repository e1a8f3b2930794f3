"""The city as the server knows it: categories, departments, unit grids and the working calendar.

Held in the store as JSON documents (`catalogue_docs`), imported by the admin CLI, and turned here
into the values the rules need: a category map, a `GridIndex` to locate fixes, a `WorkCalendar`.
A running server rebuilds its `City` when the store's catalogue version moves (another process may
have imported new grids).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from shared.catalogue import (
    Catalogue,
    Category,
    categories_csv_parse,
    category_from_dict,
    category_to_dict,
    department_from_dict,
    department_to_dict,
    departments_csv_parse,
    grids_from_geojson,
    grids_to_geojson,
)
from shared.geo import GridIndex, grid_of
from shared.rules import RuleContext
from shared.worktime import WorkCalendar, calendar_from_dict, calendar_to_dict
from sync_server.json_answer import answer_json
from sync_server.store.base import CatalogueReader, Store

DOC_CATEGORIES = "categories"
DOC_DEPARTMENTS = "departments"
DOC_GRIDS = "grids"
DOC_CALENDAR = "calendar"


@dataclass(frozen=True)
class City:
    """One version of the city's catalogue (`version`: the store's catalogue version it was read at)."""

    catalogue: Catalogue
    calendar: WorkCalendar
    index: GridIndex
    version: int
    # `catalogue_json`'s bytes once made, and the lock that makes them once
    _json: list[bytes] = field(default_factory=list, init=False, repr=False, compare=False)
    _json_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    @property
    def categories(self) -> dict[str, Category]:
        return dict(self.catalogue.categories)

    def locate(self, lat: float, lon: float) -> str | None:
        """The grid of a point, or None: `shared.geo.grid_of` over this city's grids."""
        return grid_of(self.index, lat, lon)

    def rule_context(self, now: int) -> RuleContext:
        return RuleContext(
            now=now,
            categories=self.catalogue.categories,
            calendar=self.calendar,
            locate=self.locate if len(self.index) else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """As the phone downloads it on enrollment."""
        return {
            "categories": [category_to_dict(c) for c in self.catalogue.categories.values()],
            "departments": [department_to_dict(d) for d in self.catalogue.departments.values()],
            "grids": grids_to_geojson(self.catalogue.grids.values()),
            "calendar": calendar_to_dict(self.calendar),
        }

    def catalogue_json(self) -> bytes:
        """`to_dict()` as the API's JSON (`answer_json`: the bytes FastAPI would make of it), encoded
        once per `City` (the first caller encodes, callers at the same moment wait for it) and kept.
        A `City` is one catalogue version and `CityCache` builds a new one when the store's version
        moves, so these bytes change exactly when the catalogue does. Thousands of grid polygons
        make an MB, ~0.5 s of CPU through FastAPI's encoder: too dear to spend on every phone."""
        with self._json_lock:
            if not self._json:
                self._json.append(answer_json(self.to_dict()))
            return self._json[0]


def load_city(store: CatalogueReader) -> City:
    version = store.catalogue_version()
    categories = store.catalogue_doc(DOC_CATEGORIES) or []
    departments = store.catalogue_doc(DOC_DEPARTMENTS) or []
    grids = store.catalogue_doc(DOC_GRIDS) or {"type": "FeatureCollection", "features": []}
    calendar_doc = store.catalogue_doc(DOC_CALENDAR)
    catalogue = Catalogue.build(
        [category_from_dict(c) for c in categories],
        [department_from_dict(d) for d in departments],
        grids_from_geojson(grids),
    )
    calendar = calendar_from_dict(calendar_doc) if calendar_doc else WorkCalendar()
    return City(catalogue, calendar, GridIndex(catalogue.grids.values()), version)


class CityCache:
    """The current `City`, rebuilt only when the catalogue changed in the store."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._city: City | None = None

    def get(self, source: CatalogueReader | None = None) -> City:
        """`source`: the open transaction to read through, when there is one (a transaction never
        reads through the store); the store otherwise."""
        reader = self._store if source is None else source
        version = reader.catalogue_version()
        city = self._city
        if city is None or city.version != version:
            with self._lock:  # threads that find it stale together load it once
                city = self._city
                if city is None or city.version != version:
                    city = self._city = load_city(reader)
        return city


# --- imports (admin CLI and `init --demo`) --------------------------------------------------------


def import_departments(store: Store, csv_text: str) -> int:
    departments = departments_csv_parse(csv_text)
    with store.transaction() as tx:
        tx.put_catalogue_doc(DOC_DEPARTMENTS, [department_to_dict(d) for d in departments])
    return len(departments)


def import_categories(store: Store, csv_text: str) -> int:
    """Categories must name known departments (import departments first)."""
    categories = categories_csv_parse(csv_text)
    departments = [department_from_dict(d) for d in store.catalogue_doc(DOC_DEPARTMENTS) or []]
    Catalogue.build(categories, departments)  # refuses a category whose department is unknown
    with store.transaction() as tx:
        tx.put_catalogue_doc(DOC_CATEGORIES, [category_to_dict(c) for c in categories])
    return len(categories)


def import_grids(store: Store, geojson: Any) -> int:
    cells = grids_from_geojson(geojson)
    with store.transaction() as tx:
        tx.put_catalogue_doc(DOC_GRIDS, grids_to_geojson(cells))
    return len(cells)


def import_calendar(store: Store, doc: Any) -> None:
    calendar = calendar_from_dict(doc)
    with store.transaction() as tx:
        tx.put_catalogue_doc(DOC_CALENDAR, calendar_to_dict(calendar))
