"""The Open311 GeoReport v2 routes under /open311/v2, in JSON and XML (`….json`, `….xml`).

Mapping and query rules: `sync_server.open311`; what the public may see: `sync_server.open311_privacy`;
filing requests: `sync_server.open311_intake`. Reads are unsigned and public. `GET requests` asks
the store for one page (`Store.public_cases`): the filters and the page run in the database on an
index, so a request costs the same on a store of any size.

Every answer here, refusals included, is in GeoReport form: a refusal is a list of
`{"code": <HTTP status>, "description": "<gridsync code>: <message>"}` (`<errors><error>…` in XML).
Read answers carry an `ETag` (and `Last-Modified` for requests) and answer `304` to a matching
`If-None-Match` (not to `If-Modified-Since` alone: some changes move no time). CORS headers are
sent only for the origins a city lists.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

import anyio
import orjson
from fastapi import APIRouter, Request, Response

from shared.catalogue import Category
from shared.crypto import b64d, open_photo
from shared.errors import GridsyncError
from shared.model import Case
from sync_server.export import CHINA_OFFSET_MINUTES
from sync_server.open311 import (
    discovery,
    parse_ids,
    parse_query,
    request_from_case,
    service_definition,
    service_from_category,
    service_notice,
    updated_at,
)
from sync_server.open311_privacy import SAFE_DEFAULTS, PublicPolicy, public_jpeg
from sync_server.open311_xml import ERRORS, REQUESTS, SERVICES, list_xml, object_xml
from sync_server.store.base import PublicCaseQuery

FORMATS = {"json": "application/json", "xml": "text/xml; charset=utf-8"}
MAX_POST_BYTES = 64 * 1024  # a 4000-character description, percent-encoded, fits


@dataclass(frozen=True)
class Open311Settings:
    """A city's Open311 choices (docs/server.md): its jurisdiction id ("" accepts none), the public
    feed's privacy policy, the origins allowed to read it from a browser (CORS; none by default)."""

    jurisdiction_id: str = ""
    policy: PublicPolicy = SAFE_DEFAULTS
    cors_origins: frozenset[str] = frozenset()
    default_lang: str = "zh-CN"
    utc_offset_minutes: int = CHINA_OFFSET_MINUTES
    changeset: str = "2026-11-29T00:00:00Z"


#: `file(api_key, form, now)` → the new case; raises GridsyncError (forbidden, rate limited, refused).
FileRequest = Callable[[str | None, dict[str, str], int], Case]


@dataclass
class Open311Source:
    """What the routes read and write, as plain callables (the app binds them to its services)."""

    public_cases: Callable[[PublicCaseQuery], list[Case]]
    get_case: Callable[[str], Case | None]
    categories: Callable[[], list[Category]]
    public_texts: Callable[[Collection[str]], dict[str, str]] = field(default=lambda ids: {})
    #: a photo blob (sealed, as uploaded) by its sha256 if it has arrived whole, else None
    photo_blob: Callable[[str], bytes | None] = field(default=lambda sha256: None)
    photo_ready: Callable[[str], bool] = field(default=lambda sha256: False)
    file: FileRequest | None = None  # None: POST is refused (no intake configured)
    clock: Callable[[], int] = field(default=lambda: int(time.time()))


def georeport_error(error: GridsyncError, fmt: str = "json") -> Response:
    """A refusal in GeoReport form; `Retry-After` kept when the refusal says when to come back."""
    message = f"{error.code}: {error.to_json()['message']}" + (f" ({error.detail})" if error.detail else "")
    items = [{"code": error.status, "description": message}]
    body = list_xml(ERRORS, items) if fmt == "xml" else orjson.dumps(items)
    response = Response(body, status_code=error.status, media_type=FORMATS.get(fmt, FORMATS["json"]))
    retry_after = (error.context or {}).get("retry_after")
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _http_date(epoch: int) -> str:
    return format_datetime(datetime.fromtimestamp(epoch, UTC), usegmt=True)


def open311_router(source: Open311Source, settings: Open311Settings | None = None) -> APIRouter:
    """Discovery, services (list and definitions), requests (query, one, POST) and tokens, each in
    `.json` and `.xml`. A `lang` parameter (`zh-CN`, `en`) picks the language of names and notes."""
    settings = settings or Open311Settings()
    router = APIRouter(prefix="/open311/v2", tags=["open311"])

    def check(fmt: str, jurisdiction_id: str | None) -> None:
        if fmt not in FORMATS:
            raise GridsyncError("request.not_found", f"format must be json or xml, not {fmt!r}")
        if jurisdiction_id is not None and jurisdiction_id != settings.jurisdiction_id:
            raise GridsyncError("request.not_found", f"unknown jurisdiction_id {jurisdiction_id!r}")

    def cors(request: Request, response: Response) -> Response:
        origin = request.headers.get("origin")
        if origin and (origin in settings.cors_origins or "*" in settings.cors_origins):
            response.headers["Access-Control-Allow-Origin"] = "*" if "*" in settings.cors_origins else origin
            response.headers["Vary"] = "Origin"
        return response

    def answer(request: Request, fmt: str, body: bytes, last_modified: int | None = None) -> Response:
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = {"ETag": etag}
        if last_modified is not None:
            headers["Last-Modified"] = _http_date(last_modified)
        # Only the ETag decides a 304: a public-text edit, or a case leaving a filtered list, changes
        # an answer without moving any time in it, so If-Modified-Since alone is not honoured.
        if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
            return cors(request, Response(status_code=304, headers=headers))
        return cors(request, Response(body, media_type=FORMATS[fmt], headers=headers))

    def refuse(request: Request, error: GridsyncError, fmt: str) -> Response:
        return cors(request, georeport_error(error, fmt if fmt in FORMATS else "json"))

    def media_url(request: Request, case: Case) -> str | None:
        photo = settings.policy.public_photo(case)
        if photo is None or not source.photo_ready(photo.sha256):
            return None
        return f"{str(request.base_url).rstrip('/')}/open311/v2/media/{case.case_id}/{photo.photo_id}.jpg"

    def as_requests(request: Request, cases: Iterable[Case], lang: str) -> list[dict[str, Any]]:
        cases = list(cases)
        by_code = {c.code: c for c in source.categories()}
        texts = source.public_texts([c.case_id for c in cases]) if cases else {}
        return [
            request_from_case(c, by_code.get(c.category), lang, settings.utc_offset_minutes, settings.policy,
                              texts.get(c.case_id), media_url(request, c))
            for c in cases
        ]  # fmt: skip

    def requests_answer(request: Request, fmt: str, cases: list[Case], lang: str | None) -> Response:
        items = as_requests(request, cases, lang or settings.default_lang)
        body = list_xml(REQUESTS, items) if fmt == "xml" else orjson.dumps(items)
        return answer(request, fmt, body, max((updated_at(c) for c in cases), default=None))

    # Read handlers are sync on purpose: the source may block on a store, so they run in the threadpool.
    @router.get("/discovery.{fmt}")
    def discovery_document(request: Request, fmt: str) -> Response:
        try:
            check(fmt, None)
        except GridsyncError as error:
            return refuse(request, error, fmt)
        document = discovery(str(request.base_url).rstrip("/") + "/open311/v2", settings.changeset)
        return answer(
            request, fmt, object_xml("discovery", document) if fmt == "xml" else orjson.dumps(document)
        )

    @router.get("/services.{fmt}")
    def services(
        request: Request, fmt: str, lang: str | None = None, jurisdiction_id: str | None = None
    ) -> Response:
        try:
            check(fmt, jurisdiction_id)
        except GridsyncError as error:
            return refuse(request, error, fmt)
        items = [service_from_category(c, lang or settings.default_lang) for c in source.categories()]
        return answer(request, fmt, list_xml(SERVICES, items) if fmt == "xml" else orjson.dumps(items))

    @router.get("/services/{service_code}.{fmt}")
    def definition(
        request: Request, service_code: str, fmt: str, jurisdiction_id: str | None = None
    ) -> Response:
        try:
            check(fmt, jurisdiction_id)
            category = next((c for c in source.categories() if c.code == service_code), None)
            if category is None:
                raise GridsyncError("request.not_found", f"no service {service_code!r}")
        except GridsyncError as error:
            return refuse(request, error, fmt)
        document = service_definition(category)
        body = object_xml("service_definition", document) if fmt == "xml" else orjson.dumps(document)
        return answer(request, fmt, body)

    @router.get("/requests.{fmt}")
    def requests(
        request: Request,
        fmt: str,
        service_request_id: str | None = None,
        service_code: str | None = None,
        status: str | None = None,
        start_date: str | None = None,
        end_date: str | None = None,
        bbox: str | None = None,
        page: str | None = None,
        page_size: str | None = None,
        lang: str | None = None,
        jurisdiction_id: str | None = None,
    ) -> Response:
        try:
            check(fmt, jurisdiction_id)
            # Every parameter is checked, so a malformed one is a 400 whatever else is asked.
            query = parse_query(service_code, status, start_date, end_date, bbox, page, page_size,
                                now=source.clock(), utc_offset_minutes=settings.utc_offset_minutes)  # fmt: skip
            if service_request_id is not None:  # the spec: the ids override every other parameter
                found = [c for c in map(source.get_case, parse_ids(service_request_id)) if c is not None]
                return requests_answer(request, fmt, found, lang)
        except GridsyncError as error:
            return refuse(request, error, fmt)
        return requests_answer(request, fmt, source.public_cases(query), lang)

    @router.get("/requests/{service_request_id}.{fmt}")
    def one_request(
        request: Request,
        service_request_id: str,
        fmt: str,
        lang: str | None = None,
        jurisdiction_id: str | None = None,
    ) -> Response:
        try:
            check(fmt, jurisdiction_id)
            case = source.get_case(service_request_id)
            if case is None:
                raise GridsyncError("request.not_found", f"no service request {service_request_id!r}")
        except GridsyncError as error:
            return refuse(request, error, fmt)
        return requests_answer(request, fmt, [case], lang)  # the spec: a list of one

    @router.get("/tokens/{token}.{fmt}")
    def token(request: Request, token: str, fmt: str, jurisdiction_id: str | None = None) -> Response:
        """A token is the case id `POST requests` answered with; it stands for the request at once."""
        try:
            check(fmt, jurisdiction_id)
            case = source.get_case(token) if len(token) == 32 else None
            if case is None:
                raise GridsyncError("request.not_found", f"no token {token!r}")
        except GridsyncError as error:
            return refuse(request, error, fmt)
        items = [{"service_request_id": case.case_no or case.case_id, "token": case.case_id}]
        return answer(request, fmt, list_xml(REQUESTS, items) if fmt == "xml" else orjson.dumps(items))

    @router.get("/media/{case_id}/{photo_id}.jpg")
    def media(request: Request, case_id: str, photo_id: str) -> Response:
        """A photo the city publishes (`media_url`), without its metadata; any other is 404. Its ETag
        is the sealed blob's address: a revalidation costs no decryption and no re-encoding."""
        try:
            case = source.get_case(case_id) if len(case_id) == 32 else None
            photo = None if case is None else settings.policy.public_photo(case)
            if photo is None or photo.photo_id != photo_id or not source.photo_ready(photo.sha256):
                raise GridsyncError("request.not_found", "no published photo there")
            etag = f'"{photo.sha256[:32]}"'
            if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
                return cors(request, Response(status_code=304, headers={"ETag": etag}))
            blob = source.photo_blob(photo.sha256)
            if blob is None:
                raise GridsyncError("request.not_found", "no published photo there")
            jpeg = public_jpeg(open_photo(b64d(photo.key), blob))
        except GridsyncError as error:
            return refuse(request, error, "json")
        return cors(request, Response(jpeg, media_type="image/jpeg", headers={"ETag": etag}))

    @router.post("/requests.{fmt}")
    async def file_request(request: Request, fmt: str) -> Response:
        """The spec's POST: form fields (`application/x-www-form-urlencoded`), `api_key` among them
        (or in the query string). Answers 201 with `service_request_id` and `token`."""
        try:
            length = request.headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > MAX_POST_BYTES):
                raise GridsyncError(
                    "request.too_large", f"a service request is at most {MAX_POST_BYTES} bytes"
                )
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_POST_BYTES:
                    raise GridsyncError(
                        "request.too_large", f"a service request is at most {MAX_POST_BYTES} bytes"
                    )
            try:
                pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
            except UnicodeDecodeError:
                raise GridsyncError("request.malformed", "the form is not UTF-8") from None
            form = {**dict(request.query_params), **dict(pairs)}
            check(fmt, form.pop("jurisdiction_id", None))
            if source.file is None:
                raise GridsyncError("request.forbidden", "this server does not take service requests")
            filer = source.file
            case = await anyio.to_thread.run_sync(
                lambda: filer(form.pop("api_key", None), form, source.clock())
            )
        except GridsyncError as error:
            return refuse(request, error, fmt)
        category = next((c for c in source.categories() if c.code == case.category), None)
        notice = None if category is None else service_notice(category, settings.default_lang)
        items = [{"service_request_id": case.case_no or case.case_id, "token": case.case_id,
                  "service_notice": notice, "account_id": None}]  # fmt: skip
        body = list_xml(REQUESTS, items) if fmt == "xml" else orjson.dumps(items)
        return cors(request, Response(body, status_code=201, media_type=FORMATS[fmt]))

    if settings.cors_origins:

        @router.options("/{path:path}")
        def preflight(request: Request, path: str) -> Response:
            response = cors(request, Response(status_code=204))
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = (
                "Content-Type, If-None-Match, If-Modified-Since"
            )
            response.headers["Access-Control-Max-Age"] = "600"
            return response

    return router
