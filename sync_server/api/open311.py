"""The Open311 GeoReport v2 routes under /open311/v2 (mapping and query rules: `sync_server.open311`).

Unsigned and public. `GET requests` asks the store for one page (`Store.public_cases`): the filters
and the page run in the database on an index, so a request costs the same on a store of any size.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from shared.catalogue import Category
from shared.errors import GridsyncError
from shared.model import Case
from sync_server.export import CHINA_OFFSET_MINUTES
from sync_server.open311 import parse_ids, parse_query, request_from_case, service_from_category
from sync_server.store.base import PublicCaseQuery


def _error(error: GridsyncError) -> JSONResponse:
    return JSONResponse({"error": error.to_json()}, status_code=error.status)


def open311_router(
    public_cases: Callable[[PublicCaseQuery], list[Case]],
    get_case: Callable[[str], Case | None],
    categories: Callable[[], list[Category]],
    *,
    clock: Callable[[], int] = lambda: int(time.time()),
    default_lang: str = "zh-CN",
    utc_offset_minutes: int = CHINA_OFFSET_MINUTES,
) -> APIRouter:
    """The GET endpoints under /open311/v2. `get_case` looks a request id up: a case number, or a
    case id for a case that has none yet. A `lang` query parameter (`zh-CN`, `en`) picks the
    language of names and notes."""
    router = APIRouter(prefix="/open311/v2", tags=["open311"])

    def as_requests(cases: Iterable[Case], lang: str) -> list[dict[str, Any]]:
        by_code = {c.code: c for c in categories()}
        return [request_from_case(c, by_code.get(c.category), lang, utc_offset_minutes) for c in cases]

    # Handlers are sync on purpose: the callables may block on a store, so they run in the threadpool.
    @router.get("/services.json")
    def services(lang: str | None = None) -> JSONResponse:
        chosen = lang or default_lang
        return JSONResponse([service_from_category(c, chosen) for c in categories()])

    @router.get("/requests.json")
    def requests(
        service_request_id: str | None = None,
        service_code: str | None = None,
        status: str | None = None,
        start_date: str | None = None,
        end_date: str | None = None,
        bbox: str | None = None,
        page: str | None = None,
        page_size: str | None = None,
        lang: str | None = None,
    ) -> JSONResponse:
        chosen = lang or default_lang
        try:
            if service_request_id is not None:  # the spec: this overrides every other parameter
                found = [c for c in map(get_case, parse_ids(service_request_id)) if c is not None]
                return JSONResponse(as_requests(found, chosen))
            query = parse_query(
                service_code,
                status,
                start_date,
                end_date,
                bbox,
                page,
                page_size,
                now=clock(),
                utc_offset_minutes=utc_offset_minutes,
            )
        except GridsyncError as error:
            return _error(error)
        return JSONResponse(as_requests(public_cases(query), chosen))

    @router.get("/requests/{service_request_id}.json")
    def request(service_request_id: str, lang: str | None = None) -> JSONResponse:
        case = get_case(service_request_id)
        if case is None:
            return _error(GridsyncError("request.not_found", f"no service request {service_request_id!r}"))
        return JSONResponse(as_requests([case], lang or default_lang))  # the spec: a list of one

    return router
