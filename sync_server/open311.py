"""Open311 GeoReport v2, read side: categories as services, cases as service requests.

Other city systems and civic apps read gridsync through this standard (https://wiki.open311.org/
GeoReport_v2). Only the GET methods exist: reports come from grid workers' phones, never from here.
JSON only; the spec's field names, nothing renamed.

Mapping (docs/http-api.md): a category is a service (`service_code` = its 4-digit code, `group` =
its major class); a case is a service request (`service_request_id` = its case number, or its id
while it has none). Status `closed`, `rejected`, `voided`, `duplicate` → `closed`; every other
status → `open`. `expected_datetime` is the deadline, `agency_responsible` the department code.
`media_url` is null unless the city publishes photos of some stage (`sync_server.open311_privacy`).
Times are ISO 8601
with the city's offset (`2024-03-05T09:00:00+08:00`).

`GET requests.json` follows the spec's defaults: without dates, the last 90 days; a range may not
span more than 90 days; newest first, one page at a time (`page` from 1, `page_size` default 100,
at most 1000: the common extensions' paging instead of a silent cap). `bbox=min_lon,min_lat,max_lon,
max_lat` is an extension (docs/http-api.md). The filters and the page run in the store
(`Store.public_cases`). A bad parameter is `request.malformed` (400); an unknown request
is `request.not_found` (404); both answer `{"error": {...}}` like the rest of the API.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from shared.catalogue import BBox, Category
from shared.errors import GridsyncError
from shared.model import Case, Status
from sync_server.export import CHINA_OFFSET_MINUTES, iso_time
from sync_server.open311_privacy import SAFE_DEFAULTS, PublicPolicy
from sync_server.store.base import PublicCaseQuery

SERVICE_FIELDS = ("service_code", "service_name", "description", "metadata", "type", "keywords", "group")
REQUEST_FIELDS = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
)
MAX_REQUESTS = 1000  # the spec's cap on one answer; here the largest page_size
DEFAULT_PAGE_SIZE = 100
MAX_PAGE = 10_000  # deep pages cost index steps (offset), never documents read
WINDOW_SECONDS = 90 * 86_400
DESCRIPTION_LIMIT = 4000  # the spec's limit for a request's description
CLOSED_STATUSES = frozenset({Status.CLOSED, Status.REJECTED, Status.VOIDED, Status.DUPLICATE})

_STATUS_NOTES: dict[Status, tuple[str, str]] = {
    Status.REPORTED: ("已上报，待立案", "Reported; waiting to be filed"),
    Status.DISPATCHED: ("已立案派遣", "Filed and dispatched"),
    Status.HANDLING: ("处理中", "Being handled"),
    Status.RETURNED: ("已回退，待重新派遣", "Sent back; to be dispatched again"),
    Status.REPORTED_BACK: ("已处理，待核查", "Handled; waiting for verification"),
    Status.VERIFIED: ("已核查，待结案", "Verified; waiting for closure"),
    Status.CLOSED: ("已结案", "Closed"),
    Status.REJECTED: ("不予立案", "Not accepted"),
    Status.VOIDED: ("已作废", "Voided"),
    Status.DUPLICATE: ("重复上报，已合并", "Duplicate request"),
}


def _zh(lang: str) -> bool:
    return lang.startswith("zh")


def _malformed(detail: str) -> GridsyncError:
    return GridsyncError("request.malformed", detail)


def open311_status(status: str) -> str:
    return "closed" if Status(status) in CLOSED_STATUSES else "open"


# --- services --------------------------------------------------------------------------------------


def _time_limit(category: Category, lang: str) -> str:
    hours = category.time_limit_hours
    if hours >= 8 and hours % 8 == 0:
        days = f"{hours / 8:g}"
        return f"{days}个工作日" if _zh(lang) else f"{days} working day{'' if days == '1' else 's'}"
    text = f"{hours:g}"
    return f"{text}个工作小时" if _zh(lang) else f"{text} working hour{'' if text == '1' else 's'}"


def service_notice(category: Category, lang: str = "zh-CN") -> str:
    limit = _time_limit(category, lang)
    return f"立案后{limit}内处置" if _zh(lang) else f"Handled within {limit} of filing"


def service_from_category(category: Category, lang: str = "zh-CN") -> dict[str, Any]:
    """A category as a GeoReport service (GET services)."""
    kind = ("部件" if category.kind == "component" else "事件") if _zh(lang) else category.kind
    major = category.major_name(lang)
    return {
        "service_code": category.code,
        "service_name": category.name(lang),
        "description": f"{major}: {category.name(lang)}",
        "metadata": False,
        "type": "realtime",
        "keywords": f"{kind},{major}",
        "group": major,
    }


# --- requests --------------------------------------------------------------------------------------


def updated_at(case: Case) -> int:
    # The spec: for a closed request, the moment it was closed. Otherwise the last change we know of.
    if case.status == Status.CLOSED and case.closed_at is not None:
        return case.closed_at
    return max([case.reported_at, *(entry.at for entry in case.timeline)])


def _status_notes(case: Case, lang: str) -> str:
    zh, en = _STATUS_NOTES[Status(case.status)]
    note = zh if _zh(lang) else en
    if case.overdue and Status(case.status) not in CLOSED_STATUSES:
        note += "（已超期）" if _zh(lang) else " (overdue)"
    return note


def request_from_case(
    case: Case,
    category: Category | None,
    lang: str = "zh-CN",
    utc_offset_minutes: int = CHINA_OFFSET_MINUTES,
    policy: PublicPolicy = SAFE_DEFAULTS,
    public_text: str | None = None,
    media_url: str | None = None,
) -> dict[str, Any]:
    """A case as a GeoReport service request, every field of the spec present (null when unknown),
    as the city's `policy` lets the public see it (`sync_server.open311_privacy`). `public_text` is
    the supervisor's public text for the case, if any; `media_url` the link to the photo the city
    publishes for it (see `PublicPolicy.public_photo`). No field carries a person or a device."""
    loc = case.location
    lat, lon = (None, None) if loc is None else policy.coordinates(loc.lat, loc.lon)
    description, address = policy.public_text(case, public_text)
    return {
        "service_request_id": case.case_no or case.case_id,
        "status": open311_status(case.status),
        "status_notes": _status_notes(case, lang),
        "service_name": case.category if category is None else category.name(lang),
        "service_code": case.category,
        "description": None if description is None else description[:DESCRIPTION_LIMIT],
        "agency_responsible": case.department,
        "service_notice": None if category is None else service_notice(category, lang),
        "requested_datetime": iso_time(case.reported_at, utc_offset_minutes),
        "updated_datetime": iso_time(updated_at(case), utc_offset_minutes),
        "expected_datetime": iso_time(case.deadline, utc_offset_minutes),
        "address": address,
        "address_id": None,
        "zipcode": None,
        "lat": lat,
        "long": lon,
        "media_url": media_url,
    }


def service_definition(category: Category) -> dict[str, Any]:
    """`GET services/{code}`: the attributes a new request of this service may carry. The catalogue
    asks none of a citizen or a hotline (category, place and description are the standard fields),
    so every service has `metadata: false` and an empty list; the endpoint exists for clients that
    ask regardless."""
    return {"service_code": category.code, "attributes": []}


def discovery(base_url: str, changeset: str) -> dict[str, Any]:
    """The discovery document (`GET discovery`): one production endpoint, both formats."""
    return {
        "changeset": changeset,
        "contact": "",
        "key_service": "gridsync-server admin api-key issue (the city's administrator)",
        "endpoints": [
            {
                "specification": "http://wiki.open311.org/GeoReport_v2",
                "url": base_url,
                "changeset": changeset,
                "type": "production",
                "formats": ["application/json", "text/xml"],
            }
        ],
    }


# --- the query ---------------------------------------------------------------------------------------

# A "+" in a query string decodes to a space: "…T00:00:00 08:00" meant "…T00:00:00+08:00".
_SPACED_OFFSET = re.compile(r"^(.*T\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d:?\d\d)$")


def parse_datetime(text: str, utc_offset_minutes: int = CHINA_OFFSET_MINUTES) -> int:
    """A w3/ISO 8601 date or datetime as epoch seconds; one without an offset is in city time."""
    text = text.strip()
    spaced = _SPACED_OFFSET.match(text)
    if spaced:
        text = f"{spaced.group(1)}+{spaced.group(2)}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _malformed(f"not an ISO 8601 date or datetime: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone(timedelta(minutes=utc_offset_minutes)))
    return math.floor(moment.timestamp())


def parse_bbox(text: str) -> BBox:
    parts = text.split(",")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) != 4 or not all(math.isfinite(n) for n in numbers):
        raise _malformed(f"bbox must be min_lon,min_lat,max_lon,max_lat: {text!r}")
    min_lon, min_lat, max_lon, max_lat = numbers
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise _malformed(f"bbox out of range or inverted: {text!r}")
    return (min_lon, min_lat, max_lon, max_lat)


def _comma_list(name: str, text: str) -> frozenset[str]:
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise _malformed(f"{name} has an empty item: {text!r}")
    return frozenset(items)


def _page_number(name: str, text: str | None, default: int, most: int) -> int:
    if text is None:
        return default
    try:
        number = int(text)
    except ValueError:
        raise _malformed(f"{name} must be a whole number: {text!r}") from None
    if not 1 <= number <= most:
        raise _malformed(f"{name} must be between 1 and {most}: {text!r}")
    return number


def parse_query(
    service_code: str | None = None,
    status: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    bbox: str | None = None,
    page: str | None = None,
    page_size: str | None = None,
    *,
    now: int,
    utc_offset_minutes: int = CHINA_OFFSET_MINUTES,
) -> PublicCaseQuery:
    """Check the parameters and apply the spec's defaults. Only an end: the 90 days before it. Only a
    start: the 90 days after it, but not past `now`. Neither: the last 90 days. `page` (from 1) and
    `page_size` (default 100, at most 1000) pick the page of the newest-first list."""
    start = None if start_date is None else parse_datetime(start_date, utc_offset_minutes)
    end = None if end_date is None else parse_datetime(end_date, utc_offset_minutes)
    if end is None:
        end = now if start is None else max(start, min(now, start + WINDOW_SECONDS))
    if start is None:
        start = end - WINDOW_SECONDS
    if end < start:
        raise _malformed(f"end_date is before start_date: {start_date!r} > {end_date!r}")
    if end - start > WINDOW_SECONDS:
        raise _malformed("start_date to end_date may not span more than 90 days")
    statuses = None
    if status is not None:
        asked = _comma_list("status", status)
        if not asked <= {"open", "closed"}:
            raise _malformed(f"status must be open and/or closed: {status!r}")
        statuses = frozenset(str(s) for s in Status if open311_status(s) in asked)
    size = _page_number("page_size", page_size, DEFAULT_PAGE_SIZE, MAX_REQUESTS)
    number = _page_number("page", page, 1, MAX_PAGE)
    return PublicCaseQuery(
        start=start,
        end=end,
        categories=None if service_code is None else _comma_list("service_code", service_code),
        statuses=statuses,
        bbox=None if bbox is None else parse_bbox(bbox),
        offset=(number - 1) * size,
        limit=size,
    )


def parse_ids(service_request_id: str) -> list[str]:
    """`service_request_id=a,b,c`: the distinct ids in order, at most `MAX_REQUESTS`."""
    _comma_list("service_request_id", service_request_id)  # refuses empty items
    return list(dict.fromkeys(i.strip() for i in service_request_id.split(",")))[:MAX_REQUESTS]
