"""Open311 through the whole app: filing requests with API keys, XML, GeoReport errors, discovery,
service definitions, jurisdiction, paging, ETag/Last-Modified and CORS (issue 15 items 1-5)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from sync_server.cli import main
from sync_server.open311_intake import issue_key, revoke_key
from tests.server.asgi import SyncClient
from tests.server.conftest import Clock
from tests.server.device import SPOT_A

V2 = "/open311/v2"
INSIDE = {"lat": str(SPOT_A["lat"]), "long": str(SPOT_A["lon"])}


@pytest.fixture
def api_key(services: Any, clock: Clock) -> str:
    return issue_key(services.store, "12345 hotline", 3, clock.now, by="tester").api_key


def file(client: SyncClient, fmt: str = "json", **form: str) -> Any:
    return client.post(f"{V2}/requests.{fmt}", data=form)


def test_a_filed_request_becomes_a_reported_case_with_its_source_and_derived_grid(
    client: SyncClient, services: Any, api_key: str
) -> None:
    response = file(client, api_key=api_key, service_code="0101", description="井盖丢失", address_string="二马路",
                    media_url="https://hotline.example/p/1.jpg", email="caller@example.com", **INSIDE)  # fmt: skip
    assert response.status_code == 201, response.text
    [answer] = response.json()
    case = services.store.case(answer["token"])
    assert answer["service_request_id"] == case.case_no
    assert (case.status, case.category, case.description, case.address) == (
        "reported",
        "0101",
        "井盖丢失",
        "二马路",
    )
    assert case.grid_code == "441502001001001"  # derived from the location by the city's grids
    key_id = api_key.split(".")[0]
    assert case.reporter == f"open311.{key_id}"  # the source
    assert [n.text for n in case.notes] == ["media_url: https://hotline.example/p/1.jpg"]
    assert "caller@example.com" not in str(case)  # a caller's contact details are not kept
    [row] = [r for r in services.store.audit_rows(case.case_id) if r.kind == "create"]
    assert (row.device_id, row.flags, row.outcome) == (key_id, "open311", "applied")
    token = client.get(f"{V2}/tokens/{answer['token']}.json").json()
    assert token == [{"service_request_id": case.case_no, "token": case.case_id}]


def test_a_request_outside_the_city_is_refused_clearly_and_nothing_is_kept(
    client: SyncClient, services: Any, api_key: str
) -> None:
    response = file(client, api_key=api_key, service_code="0101", lat="39.9", long="116.4")
    assert response.status_code == 400
    [error] = response.json()
    assert error["code"] == 400
    assert error["description"].startswith("case.no_grid: ")
    assert "outside the city" in error["description"]
    assert list(services.store.cases()) == []


@pytest.mark.parametrize(
    ("form", "status", "code"),
    [
        ({}, 403, "request.forbidden"),
        ({"api_key": "nope"}, 403, "request.forbidden"),
        ({"api_key": "0" * 32 + "." + "A" * 43}, 403, "request.forbidden"),
        ({"service_code": "9999", **INSIDE}, 400, "case.unknown_category"),
        ({"service_code": "0101"}, 400, "request.malformed"),
        ({"service_code": "0101", "lat": "x", "long": "1"}, 400, "request.malformed"),
        ({"service_code": "0101", "media_url": "javascript:alert(1)", **INSIDE}, 400, "request.malformed"),
        ({"service_code": "0101", "description": "长" * 2001, **INSIDE}, 400, "request.malformed"),
        ({"service_code": "0101", "jurisdiction_id": "elsewhere", **INSIDE}, 404, "request.not_found"),
    ],
)
def test_bad_requests_are_refused_in_georeport_form_and_change_nothing(
    client: SyncClient, services: Any, api_key: str, form: dict[str, str], status: int, code: str
) -> None:
    form = {"api_key": api_key, **form} if "api_key" not in form and status != 403 else form
    for fmt in ("json", "xml"):
        response = file(client, fmt, **form)
        assert response.status_code == status, response.text
        if fmt == "json":
            [error] = response.json()
            assert (error["code"], error["description"].split(":")[0]) == (status, code)
        else:
            error = ET.fromstring(response.content).find("error")
            assert error is not None and error.findtext("code") == str(status)
            assert (error.findtext("description") or "").startswith(code)
    assert list(services.store.cases()) == []


def test_a_revoked_key_is_refused_at_once(
    client: SyncClient, services: Any, clock: Clock, api_key: str
) -> None:
    revoke_key(services.store, api_key.split(".")[0], clock.now, by="tester")
    response = file(client, api_key=api_key, service_code="0101", **INSIDE)
    assert response.status_code == 403
    assert "revoked" in response.json()[0]["description"]


def test_each_key_has_its_own_rate_limit_with_retry_after(
    client: SyncClient, services: Any, clock: Clock, api_key: str
) -> None:
    other = issue_key(services.store, "citizen app", 1, clock.now, by="tester").api_key
    for _ in range(3):  # the fixture's key: 3 a minute
        assert file(client, api_key=api_key, service_code="0101", **INSIDE).status_code == 201
    refused = file(client, api_key=api_key, service_code="0101", **INSIDE)
    assert refused.status_code == 429
    assert refused.json()[0]["description"].startswith("request.rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert file(client, api_key=other, service_code="0101", **INSIDE).status_code == 201  # its own budget
    clock.now += 60
    assert file(client, api_key=api_key, service_code="0101", **INSIDE).status_code == 201
    assert len(list(services.store.cases())) == 5


def test_keys_are_issued_listed_and_revoked_by_the_admin_cli_and_recorded(
    data_dir: Path, services: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["--data-dir", str(data_dir), "admin", "api-key", "issue", "12345 hotline", "--rate", "30"]) == 0
    )
    out = capsys.readouterr().out
    key_id = out.split("key id")[1].split()[0]
    secret = out.split("api_key")[1].split()[0]
    [record] = services.store.api_keys()
    assert (record.key_id, record.name, record.rate_per_minute, record.revoked_at) == (
        key_id,
        "12345 hotline",
        30,
        None,
    )
    assert secret.split(".")[1] not in str(record)  # only its hash is stored
    assert record.issued_by
    assert main(["--data-dir", str(data_dir), "admin", "api-key", "revoke", key_id]) == 0
    assert main(["--data-dir", str(data_dir), "admin", "api-key", "revoke", key_id]) != 0  # once
    [record] = services.store.api_keys()
    assert record.revoked_at is not None and record.revoked_by
    capsys.readouterr()
    assert main(["--data-dir", str(data_dir), "admin", "api-key", "list"]) == 0
    assert '"revoked_at": ' in capsys.readouterr().out


def test_every_read_endpoint_answers_xml_with_the_spec_elements(client: SyncClient, api_key: str) -> None:
    created = ET.fromstring(file(client, "xml", api_key=api_key, service_code="0101", **INSIDE).content)
    assert created.tag == "service_requests"
    request_id = created.findtext("request/service_request_id")
    token = created.findtext("request/token")
    services = ET.fromstring(client.get(f"{V2}/services.xml").content)
    assert services.tag == "services" and services.findtext("service/service_code")
    definition = ET.fromstring(client.get(f"{V2}/services/0101.xml").content)
    assert (definition.tag, definition.findtext("service_code")) == ("service_definition", "0101")
    assert definition.find("attributes") is not None
    for path in (f"{V2}/requests.xml", f"{V2}/requests/{request_id}.xml"):
        found = ET.fromstring(client.get(path).content)
        assert found.tag == "service_requests"
        assert found.findtext("request/service_request_id") == request_id
        assert found.findtext("request/status") == "open"
    tokens = ET.fromstring(client.get(f"{V2}/tokens/{token}.xml").content)
    assert tokens.findtext("request/service_request_id") == request_id
    discovery = ET.fromstring(client.get(f"{V2}/discovery.xml").content)
    assert discovery.findtext("endpoints/endpoint/specification") == "http://wiki.open311.org/GeoReport_v2"
    assert [f.text for f in discovery.findall("endpoints/endpoint/formats/format")] == [
        "application/json",
        "text/xml",
    ]


def test_discovery_and_service_definitions(client: SyncClient) -> None:
    document = client.get(f"{V2}/discovery.json").json()
    [endpoint] = document["endpoints"]
    assert endpoint["url"].endswith("/open311/v2") and endpoint["type"] == "production"
    definition = client.get(f"{V2}/services/0101.json").json()
    assert definition == {"service_code": "0101", "attributes": []}
    missing = client.get(f"{V2}/services/9999.json")
    assert (missing.status_code, missing.json()[0]["code"]) == (404, 404)
    unknown_format = client.get(f"{V2}/services.csv")
    assert (unknown_format.status_code, unknown_format.json()[0]["code"]) == (404, 404)


@pytest.mark.parametrize("config_overrides", [{"open311_jurisdiction_id": "shanwei.gov.cn"}])
def test_the_citys_jurisdiction_id_is_accepted_and_any_other_refused(client: SyncClient) -> None:
    assert client.get(f"{V2}/services.json", params={"jurisdiction_id": "shanwei.gov.cn"}).status_code == 200
    assert client.get(f"{V2}/services.json").status_code == 200  # optional for one jurisdiction
    refused = client.get(f"{V2}/requests.json", params={"jurisdiction_id": "beijing"})
    assert refused.status_code == 404
    assert refused.json()[0]["description"].startswith("request.not_found")


def test_requests_come_in_pages_newest_first(
    client: SyncClient, api_key: str, services: Any, clock: Clock
) -> None:
    ids = []
    for _ in range(5):
        clock.now += 60  # a fresh rate-limit minute and a distinct report time for each
        [answer] = file(client, api_key=api_key, service_code="0101", **INSIDE).json()
        ids.append(answer["service_request_id"])

    def page(n: int) -> list[str]:
        found = client.get(f"{V2}/requests.json", params={"page": str(n), "page_size": "2"}).json()
        return [r["service_request_id"] for r in found]

    assert [page(1), page(2), page(3), page(4)] == [ids[4:2:-1], ids[2:0:-1], ids[:1], []]
    assert client.get(f"{V2}/requests.json", params={"page_size": "1001"}).status_code == 400


def test_read_answers_carry_etag_and_last_modified_and_answer_304(
    client: SyncClient, api_key: str, clock: Clock
) -> None:
    file(client, api_key=api_key, service_code="0101", **INSIDE)
    first = client.get(f"{V2}/requests.json")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert client.get(f"{V2}/requests.json", headers={"If-None-Match": etag}).status_code == 304
    assert modified.endswith(" GMT")
    services = client.get(f"{V2}/services.xml")
    assert (
        client.get(f"{V2}/services.xml", headers={"If-None-Match": services.headers["ETag"]}).status_code
        == 304
    )
    clock.now += 60
    file(client, api_key=api_key, service_code="0101", **INSIDE)
    changed = client.get(f"{V2}/requests.json", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_cors_is_off_by_default(client: SyncClient) -> None:
    response = client.get(f"{V2}/services.json", headers={"Origin": "https://civic.example"})
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("config_overrides", [{"open311_cors_origins": "https://civic.example"}])
def test_cors_answers_only_the_origins_a_city_lists(client: SyncClient) -> None:
    allowed = client.get(f"{V2}/services.json", headers={"Origin": "https://civic.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://civic.example"
    other = client.get(f"{V2}/services.json", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    preflight = client.request(
        "OPTIONS", f"{V2}/requests.json",
        headers={"Origin": "https://civic.example", "Access-Control-Request-Method": "POST"},
    )  # fmt: skip
    assert preflight.status_code == 204
    assert "POST" in preflight.headers["access-control-allow-methods"]


def test_the_apps_own_refusals_on_open311_paths_are_in_georeport_form(client: SyncClient) -> None:
    wrong_method = client.request("DELETE", f"{V2}/services.json")
    assert wrong_method.status_code == 405
    assert "GET" in wrong_method.headers["allow"]
    assert wrong_method.json() == [{"code": 405, "description": wrong_method.json()[0]["description"]}]
    assert wrong_method.json()[0]["description"].startswith("request.method_not_allowed: ")
    unknown = client.get(f"{V2}/nothing/here.xml")
    assert unknown.status_code == 404
    error = ET.fromstring(unknown.content).find("error")
    assert error is not None and error.findtext("code") == "404"


def test_issuing_and_revoking_a_key_are_in_the_admin_audit_without_the_secret(
    data_dir: Path, services: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = ["--data-dir", str(data_dir), "admin", "api-key"]
    assert main([*admin, "issue", "12345 hotline", "--rate", "30"]) == 0
    secret = capsys.readouterr().out.split("api_key")[1].split()[0]
    [key] = services.store.api_keys()
    assert main([*admin, "revoke", key.key_id]) == 0
    issued, revoked = services.store.admin_actions(target=key.key_id)
    assert (issued.action, issued.before, issued.after) == (
        "api-key.issue", None, {"name": "12345 hotline", "rate_per_minute": 30},
    )  # fmt: skip
    assert (revoked.action, revoked.before, revoked.after) == (
        "api-key.revoke", {"revoked_at": None}, {"revoked_at": services.store.api_key(key.key_id).revoked_at},
    )  # fmt: skip
    assert issued.os_user and secret.split(".")[1] not in str(issued)


def test_a_change_that_moves_no_timestamp_is_never_answered_304(
    client: SyncClient, api_key: str, services: Any, clock: Clock
) -> None:
    """A public-text edit (or a case leaving a filtered list) changes an answer without moving any
    `updated_datetime`: `If-Modified-Since` alone must not hide it; the ETag sees it."""
    from sync_server.open311_intake import set_public_text

    [filed] = file(client, api_key=api_key, service_code="0101", **INSIDE).json()
    path = f"{V2}/requests/{filed['service_request_id']}.json"
    first = client.get(path)
    set_public_text(services.store, filed["service_request_id"], "井盖松动，已登记", "chen.sup", clock.now)
    again = client.get(path, headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert again.status_code == 200
    assert again.json()[0]["description"] == "井盖松动，已登记"
    assert client.get(path, headers={"If-None-Match": first.headers["ETag"]}).status_code == 200


def test_open311_admin_commands_take_data_dir_after_the_command_too(data_dir: Path, services: Any) -> None:
    assert main(["admin", "api-key", "issue", "citizen app", "--data-dir", str(data_dir)]) == 0
    [key] = services.store.api_keys()
    assert main(["admin", "api-key", "list", "--data-dir", str(data_dir)]) == 0
    assert main(["admin", "api-key", "revoke", key.key_id, "--data-dir", str(data_dir)]) == 0
