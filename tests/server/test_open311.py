"""Open311 GeoReport v2 read side: field names, mapping, filters and the three endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from shared.catalogue import Category
from shared.errors import GridsyncError
from shared.model import Case, Location, Status, TimelineEntry
from sync_server.api.open311 import Open311Source, open311_router
from sync_server.open311 import (
    open311_status,
    parse_datetime,
    parse_query,
    request_from_case,
    service_from_category,
)
from sync_server.store import SqliteStore

CST = timezone(timedelta(hours=8))
DAY = 86_400

# Copied from the GeoReport v2 spec's "GET Service Requests" response table and "GET Service List".
SPEC_REQUEST_FIELDS = {
    "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
    "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
    "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url",
}  # fmt: skip
SPEC_SERVICE_FIELDS = {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}


def at(month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(2024, month, day, hour, minute, tzinfo=CST).timestamp())


NOW = at(6, 1, 12)

MANHOLE = Category(
    code="0103",
    kind="component",
    name_zh="井盖",
    name_en="Manhole cover",
    major_name_zh="公用设施",
    major_name_en="Public utilities",
    time_limit_hours=4,
    department="water",
)
GARBAGE = Category(
    code="5101",
    kind="event",
    name_zh="暴露垃圾",
    name_en="Exposed garbage",
    major_name_zh="市容环境",
    major_name_en="City appearance",
    time_limit_hours=40,
    department="sanitation",
)


def make_case(
    case_id: str,
    *,
    category: str = "0103",
    status: Status = Status.DISPATCHED,
    reported: int = NOW - DAY,
    lat: float | None = 22.78,
    lon: float = 115.37,
    case_no: str = "",
) -> Case:
    return Case(
        case_id=case_id,
        case_no=case_no,
        category=category,
        reporter="w1",
        status=status,
        description="井盖破损 broken cover",
        location=None if lat is None else Location(lat, lon, 5.0, "gps"),
        grid_code="441502001001001",
        address="汕尾市城区香洲街道二马路",
        department="water",
        reported_at=reported,
        deadline=reported + 4 * 3600,
    )


# --- mapping ---------------------------------------------------------------------------------------


def test_service_has_every_spec_field_and_the_category_names() -> None:
    zh = service_from_category(MANHOLE, "zh-CN")
    assert set(zh) == SPEC_SERVICE_FIELDS
    assert zh == {
        "service_code": "0103",
        "service_name": "井盖",
        "description": "公用设施: 井盖",
        "metadata": False,
        "type": "realtime",
        "keywords": "部件,公用设施",
        "group": "公用设施",
    }
    en = service_from_category(GARBAGE, "en")
    assert (en["service_name"], en["group"], en["keywords"]) == (
        "Exposed garbage",
        "City appearance",
        "event,City appearance",
    )


def test_request_has_every_spec_field_with_times_in_city_offset() -> None:
    case = make_case("c1", case_no="SW2024000123")
    request = request_from_case(case, MANHOLE, "zh-CN")
    assert set(request) == SPEC_REQUEST_FIELDS
    assert request["service_request_id"] == "SW2024000123"
    assert request["status"] == "open"
    assert request["status_notes"] == "已立案派遣"
    assert (request["service_name"], request["service_code"]) == ("井盖", "0103")
    assert request["agency_responsible"] == "water"
    assert request["service_notice"] == "立案后4个工作小时内处置"
    assert request["requested_datetime"] == "2024-05-31T12:00:00+08:00"
    assert request["expected_datetime"] == "2024-05-31T16:00:00+08:00"
    assert request["updated_datetime"] == "2024-05-31T12:00:00+08:00"
    assert (request["lat"], request["long"]) == (22.78, 115.37)
    assert request["address"] == "汕尾市城区香洲街道二马路"
    assert (request["address_id"], request["zipcode"], request["media_url"]) == (None, None, None)


def test_request_without_case_number_uses_the_case_id_and_unknown_category_its_code() -> None:
    request = request_from_case(make_case("c-7f3a", lat=None), None, "en")
    assert request["service_request_id"] == "c-7f3a"
    assert (request["service_name"], request["service_notice"]) == ("0103", None)
    assert (request["lat"], request["long"]) == (None, None)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (Status.REPORTED, "open"),
        (Status.DISPATCHED, "open"),
        (Status.HANDLING, "open"),
        (Status.RETURNED, "open"),
        (Status.REPORTED_BACK, "open"),
        (Status.VERIFIED, "open"),
        (Status.CLOSED, "closed"),
        (Status.REJECTED, "closed"),
        (Status.VOIDED, "closed"),
        (Status.DUPLICATE, "closed"),
    ],
)
def test_status_maps_to_open_or_closed(status: Status, expected: str) -> None:
    assert open311_status(status) == expected


def test_closed_request_was_updated_when_it_closed_others_at_their_last_change() -> None:
    closed = make_case("c1", status=Status.CLOSED)
    closed.closed_at = at(5, 31, 15)
    closed.timeline = [
        TimelineEntry(5, "op", "sup", "transition", "close", "closed", "applied", at(5, 31, 15))
    ]
    assert request_from_case(closed, MANHOLE)["updated_datetime"] == "2024-05-31T15:00:00+08:00"
    voided = make_case("c2", status=Status.VOIDED)
    voided.timeline = [
        TimelineEntry(3, "op", "sup", "transition", "void", "voided", "applied", at(5, 31, 13))
    ]
    request = request_from_case(voided, MANHOLE, "en")
    assert (request["status"], request["status_notes"]) == ("closed", "Voided")
    assert request["updated_datetime"] == "2024-05-31T13:00:00+08:00"


def test_overdue_open_request_says_so_and_long_descriptions_are_cut_to_the_spec_limit() -> None:
    case = make_case("c1", status=Status.HANDLING)
    case.overdue = True
    case.description = "坑" * 5000
    request = request_from_case(case, GARBAGE, "en")
    assert request["status_notes"] == "Being handled (overdue)"
    assert request["service_notice"] == "Handled within 5 working days of filing"
    assert len(request["description"]) == 4000


# --- filters ----------------------------------------------------------------------------------------


CASES = [
    make_case("today", reported=NOW - 3600),
    make_case("closed", status=Status.CLOSED, reported=NOW - 10 * DAY),
    make_case("garbage", category="5101", reported=NOW - 20 * DAY, lat=22.90, lon=115.50),
    make_case("nowhere", reported=NOW - 30 * DAY, lat=None),
    make_case("old", reported=NOW - 100 * DAY),
]


def stored(path: Path, cases: list[Case]) -> SqliteStore:
    store = SqliteStore(path)
    with store.transaction() as tx:
        first = tx.reserve_change_seqs(len(cases))
        tx.save_cases([(case, first + k) for k, case in enumerate(cases)])
    return store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = stored(tmp_path / "open311.db", CASES)
    yield opened
    opened.close()


Filter = Callable[..., list[str]]


@pytest.fixture
def filter_requests(store: SqliteStore) -> Filter:
    """The case ids a `GET requests` with these raw parameters returns, in order."""

    def found(**params: str) -> list[str]:
        return [c.case_id for c in store.public_cases(parse_query(**params, now=NOW))]

    return found


def test_no_dates_means_the_last_90_days_newest_first(filter_requests: Filter) -> None:
    assert filter_requests() == ["today", "closed", "garbage", "nowhere"]


def test_only_an_end_date_means_the_90_days_before_it(filter_requests: Filter) -> None:
    end = "2024-03-01T00:00:00+08:00"  # 92 days before NOW: "old" is 100 days old
    assert filter_requests(end_date=end) == ["old"]


def test_only_a_start_date_means_from_it_until_now_at_most_90_days(filter_requests: Filter) -> None:
    assert filter_requests(start_date="2024-05-20") == ["today", "closed"]


def test_range_is_inclusive_at_both_ends(filter_requests: Filter) -> None:
    closed_at = "2024-05-22T12:00:00+08:00"  # exactly when "closed" was reported
    found = filter_requests(start_date=closed_at, end_date=closed_at)
    assert found == ["closed"]


def test_status_and_service_code_filters_take_comma_lists(filter_requests: Filter) -> None:
    assert filter_requests(status="closed") == ["closed"]
    assert filter_requests(status="open,closed") == [
        "today",
        "closed",
        "garbage",
        "nowhere",
    ]
    assert filter_requests(service_code="5101") == ["garbage"]
    both_codes = filter_requests(service_code="5101, 0103", status="open")
    assert both_codes == ["today", "garbage", "nowhere"]


def test_bbox_keeps_cases_inside_and_drops_cases_without_location(filter_requests: Filter) -> None:
    assert filter_requests(bbox="115.45,22.85,115.55,22.95") == ["garbage"]
    assert "nowhere" not in filter_requests(bbox="-180,-90,180,90")


def test_pages_walk_every_request_newest_first_with_nothing_skipped(tmp_path: Path) -> None:
    many = [make_case(f"c{i:04d}", reported=NOW - 1000 - i) for i in range(1005)]
    store = stored(tmp_path / "many.db", many)

    def page(**params: str) -> list[str]:
        return [c.case_id for c in store.public_cases(parse_query(**params, now=NOW))]

    assert len(page()) == 100  # the default page size
    biggest = page(page_size="1000")
    assert (len(biggest), biggest[0], biggest[-1]) == (1000, "c0000", "c0999")
    assert page(page="2", page_size="1000") == [f"c{i:04d}" for i in range(1000, 1005)]
    walked = [case_id for n in range(1, 12) for case_id in page(page=str(n), page_size="97")]
    assert walked == [c.case_id for c in many]
    store.close()


def test_a_plus_sign_decoded_to_a_space_is_read_as_an_offset() -> None:
    assert parse_datetime("2024-05-22T12:00:00 08:00") == at(5, 22, 12)
    assert parse_datetime("2024-05-22T04:00:00Z") == at(5, 22, 12)
    assert parse_datetime("2024-05-22T12:00:00") == at(5, 22, 12)  # no offset: city time
    assert parse_datetime("2024-05-22") == at(5, 22)


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({"start_date": "yesterday"}, "not an ISO 8601"),
        ({"end_date": "2024-13-01"}, "not an ISO 8601"),
        ({"start_date": "2024-05-02", "end_date": "2024-05-01"}, "before start_date"),
        ({"start_date": "2024-01-01", "end_date": "2024-05-01"}, "90 days"),
        ({"status": "pending"}, "status"),
        ({"status": "open,"}, "empty item"),
        ({"service_code": ""}, "empty item"),
        ({"bbox": "115,22,116"}, "bbox"),
        ({"bbox": "115,22,116,x"}, "bbox"),
        ({"bbox": "116,22,115,23"}, "inverted"),
        ({"bbox": "115,-91,116,23"}, "range"),
        ({"bbox": "nan,22,116,23"}, "bbox"),
        ({"page": "0"}, "page"),
        ({"page": "two"}, "page"),
        ({"page_size": "1001"}, "page_size"),
        ({"page_size": "0"}, "page_size"),
    ],
)
def test_bad_parameters_are_refused_as_malformed(params: dict[str, str], why: str) -> None:
    with pytest.raises(GridsyncError) as caught:
        parse_query(now=NOW, **params)
    assert caught.value.code == "request.malformed"
    assert why in caught.value.detail


# --- HTTP ----------------------------------------------------------------------------------------------


Get = Callable[..., httpx.Response]


@pytest.fixture
def open311_get(store: SqliteStore) -> Get:
    """GET against the router mounted on a bare FastAPI app, in-process through httpx's ASGI transport."""
    by_id = {c.case_no or c.case_id: c for c in CASES}
    app = FastAPI()
    source = Open311Source(store.public_cases, by_id.get, lambda: [MANHOLE, GARBAGE], clock=lambda: NOW)
    app.include_router(open311_router(source))

    def get(path: str, params: dict[str, str] | None = None) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://city.test") as http:
                return await http.get(path, params=params)

        return asyncio.run(call())

    return get


def test_services_endpoint_lists_every_category(open311_get: Get) -> None:
    response = open311_get("/open311/v2/services.json", params={"lang": "en"})
    assert response.status_code == 200
    assert [s["service_code"] for s in response.json()] == ["0103", "5101"]
    assert response.json()[0]["service_name"] == "Manhole cover"


def test_requests_endpoint_filters_and_maps(open311_get: Get) -> None:
    response = open311_get("/open311/v2/requests.json", params={"service_code": "5101"})
    assert response.status_code == 200
    [only] = response.json()
    assert set(only) == SPEC_REQUEST_FIELDS
    assert (only["service_request_id"], only["service_name"]) == ("garbage", "暴露垃圾")


def test_requests_endpoint_with_ids_ignores_the_other_parameters(open311_get: Get) -> None:
    response = open311_get(
        "/open311/v2/requests.json", params={"service_request_id": "old,today,missing", "status": "closed"}
    )
    assert [r["service_request_id"] for r in response.json()] == ["old", "today"]


@pytest.mark.parametrize(
    "params", [{"status": ""}, {"page_size": "48436902"}, {"end_date": "»ºd,"}, {"bbox": "1,2,3"}]
)
def test_ids_do_not_let_a_malformed_parameter_through(open311_get: Get, params: dict[str, str]) -> None:
    """Ignored is not unchecked: a bad value beside the ids is a bad request (found by the schema fuzz)."""
    response = open311_get("/open311/v2/requests.json", params={"service_request_id": "old", **params})
    assert response.status_code == 400
    assert response.json()[0]["description"].startswith("request.malformed: ")


@pytest.mark.parametrize("params", [{"bbox": "1,2,3"}, {"start_date": "not-a-date"}, {"status": "resolved"}])
def test_bad_query_is_a_400_in_georeport_error_form(open311_get: Get, params: dict[str, str]) -> None:
    response = open311_get("/open311/v2/requests.json", params=params)
    assert response.status_code == 400
    [error] = response.json()
    assert set(error) == {"code", "description"}
    assert error["code"] == 400
    assert error["description"].startswith("request.malformed: ")


def test_one_request_is_a_list_of_one(open311_get: Get) -> None:
    response = open311_get("/open311/v2/requests/today.json")
    assert response.status_code == 200
    assert [r["service_request_id"] for r in response.json()] == ["today"]


def test_unknown_request_is_a_404_not_found(open311_get: Get) -> None:
    response = open311_get("/open311/v2/requests/nope.json")
    assert response.status_code == 404
    [error] = response.json()
    assert (error["code"], error["description"].split(":")[0]) == (404, "request.not_found")


def test_xml_answers_parse_whatever_control_characters_a_text_holds() -> None:
    import xml.etree.ElementTree as ET

    from sync_server.open311_xml import REQUESTS, list_xml

    text = "井盖\x01破损\x08\x0b\x0c\x1f\ufffe ok\t\n"
    document = ET.fromstring(list_xml(REQUESTS, [{"description": text, "lat": 22.78, "media_url": None}]))
    assert document.findtext("request/description") == "井盖破损 ok\t\n"
    assert document.findtext("request/media_url") == ""
