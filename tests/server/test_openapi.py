"""The OpenAPI document states the contract a client generator needs: every refusal with its schema
and codes, the signing headers as a security scheme, typed answers, request bodies, parameter bounds.
And an unsupported method answers 405 with `Allow`, as HTTP says, on every path."""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import pytest

from shared import crypto, envelope
from shared.auth import SIGNED_HEADERS
from shared.errors import CATALOGUE
from sync_server.change_bell import MAX_WAIT_S
from sync_server.config import ServerConfig
from tests.server.asgi import SyncClient
from tests.server.device import TestDevice

GRIDSYNC_PATHS = ("/v1/", "/health", "/metrics")
UNSIGNED = {("post", "/v1/enroll"), ("get", "/health"), ("get", "/metrics")}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        if path.startswith(GRIDSYNC_PATHS)
        for method, operation in item.items()
    ]


@pytest.fixture
def document(client: SyncClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_unsupported_method_is_405_with_allow_everywhere(client: SyncClient, worker: TestDevice) -> None:
    for method, path, allowed in (
        ("DELETE", "/v1/segments", "POST"),
        ("POST", "/health", "GET"),
        ("PATCH", "/v1/conflicts", "GET"),
        ("GET", "/v1/enroll", "POST"),
        ("DELETE", "/open311/v2/services.json", "GET"),
        ("OPTIONS", "/v1/photos/" + "a" * 64, "GET, PUT"),  # two routes on one path: both named
    ):
        response = client.request(method, path)
        assert response.status_code == 405, (method, path, response.text)
        assert allowed in response.headers["allow"], (method, path, response.headers)
        if not path.startswith("/open311/"):  # Open311 answers in GeoReport form
            assert response.json()["error"]["code"] == "request.method_not_allowed"
    assert CATALOGUE["request.method_not_allowed"].status == 405


def test_every_operation_documents_its_refusals_with_the_error_schema_and_codes(
    document: dict[str, Any],
) -> None:
    operations = _operations(document)
    assert len(operations) >= 10
    for method, path, operation in operations:
        responses = operation["responses"]
        assert "422" not in responses, (method, path)  # validation failures answer 400, not 422
        assert "400" in responses, (method, path)
        for status, response in responses.items():
            if not status.startswith(("4", "5")):
                continue
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
            codes = response["x-gridsync-codes"]
            assert codes and all(CATALOGUE[c].status == int(status) for c in codes), (method, path, status)
            assert all(f"`{c}`" in response["description"] for c in codes)
    error = _resolve(document, {"$ref": "#/components/schemas/ErrorBody"})
    detail = _resolve(document, error["properties"]["error"])
    assert set(detail["required"]) == {"code", "message", "message_zh", "detail"}
    assert detail["additionalProperties"] is False


def test_signed_operations_require_the_four_signing_headers(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert {s["name"] for s in schemes.values()} == set(SIGNED_HEADERS)
    assert all(s["type"] == "apiKey" and s["in"] == "header" for s in schemes.values())
    assert "GRIDSYNC-REQ-V1" in "".join(s.get("description", "") for s in schemes.values())
    for method, path, operation in _operations(document):
        if (method, path) in UNSIGNED:
            assert "security" not in operation, (method, path)
            continue
        assert operation["security"] == [{name: [] for name in schemes}], (method, path)
        assert {"request.unsigned", "request.bad_signature", "request.expired", "request.replayed",
                "device.unknown"} <= set(operation["responses"]["401"]["x-gridsync-codes"])  # fmt: skip
        assert "device.revoked" in operation["responses"]["403"]["x-gridsync-codes"]


def test_every_json_answer_has_a_typed_schema(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        ok = operation["responses"]["200"]
        content = ok["content"]
        if "application/json" in content:
            schema = _resolve(document, content["application/json"]["schema"])
            assert schema.get("type") == "object" and schema.get("properties"), (method, path, schema)
            assert schema.get("required"), (method, path)
        else:
            assert set(content) <= {"application/octet-stream", "text/plain"}, (method, path, content)


def test_request_bodies_are_declared(document: dict[str, Any]) -> None:
    paths = document["paths"]
    put = paths["/v1/photos/{sha256}"]["put"]["requestBody"]
    assert put["required"] is True
    assert put["content"]["application/octet-stream"]["schema"] == {"type": "string", "format": "binary",
                                                                    "minLength": 1}  # fmt: skip
    segment = paths["/v1/segments"]["post"]["requestBody"]
    assert segment["content"]["application/octet-stream"]["schema"]["format"] == "binary"
    choice = paths["/v1/conflicts/{case_id}/{conflict_id}"]["post"]["requestBody"]
    assert _resolve(document, choice["content"]["application/json"]["schema"])["properties"]["choice"][
        "enum"
    ] == ["keep", "take"]
    enroll = paths["/v1/enroll"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(_resolve(document, enroll)["required"]) == {"code", "signing_key", "encryption_key"}


def test_parameters_carry_their_bounds_and_patterns(document: dict[str, Any]) -> None:
    def parameter(path: str, method: str, name: str) -> dict[str, Any]:
        found = [p for p in document["paths"][path][method]["parameters"] if p["name"] == name]
        assert len(found) == 1, (path, name)
        return found[0]

    limit = parameter("/v1/changes", "get", "limit")["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 1000, 500)
    cursor = parameter("/v1/changes", "get", "cursor")["schema"]
    assert (cursor["minimum"], cursor["maximum"]) == (0, 2**63 - 1)
    for method in ("get", "put"):
        sha = parameter("/v1/photos/{sha256}", method, "sha256")["schema"]
        assert sha["pattern"] == "^[0-9a-f]{64}$"
    assert parameter("/v1/photos/{sha256}/status", "get", "sha256")["schema"]["pattern"] == "^[0-9a-f]{64}$"
    offset = parameter("/v1/photos/{sha256}", "put", "offset")["schema"]
    assert (offset["minimum"], offset["maximum"]) == (0, 2**63 - 1)
    size = parameter("/v1/photos/{sha256}", "put", "size")["schema"]
    assert (size["minimum"], size["maximum"]) == (1, ServerConfig(Path(".")).max_photo_bytes)  # as configured
    for name in ("case_id", "conflict_id"):
        ident = parameter("/v1/conflicts/{case_id}/{conflict_id}", "post", name)["schema"]
        assert ident["pattern"] == "^[0-9a-f]{32}$"


def test_a_parameter_outside_its_documented_bounds_is_refused_as_malformed(worker: TestDevice) -> None:
    for query in (
        "limit=1001",
        "limit=0",
        "cursor=-1",
        f"cursor={2**63}",
        "wait=-1",
        f"wait={MAX_WAIT_S + 1}",
    ):
        response = worker.get("/v1/changes", query)
        assert response.status_code == 400, (query, response.text)
        assert response.json()["error"]["code"] == "request.malformed"
    response = worker.get("/v1/photos/" + "G" * 64 + "/status")
    assert response.status_code == 400 and response.json()["error"]["code"] == "request.malformed"


def test_the_changes_box_plaintext_is_zlib_compressed_json_as_the_docs_say(worker: TestDevice) -> None:
    worker.push_ops([worker.create()])
    path = "/v1/changes"
    box = worker.get(path, "cursor=0&limit=10").content
    header = envelope.read_box_header(box)
    plain = crypto.hpke_open(
        worker.encryption,
        box[envelope.BOX_HEADER_LEN : -crypto.SIGNATURE_LEN],
        envelope._box_info(b"changes", box[: envelope.BOX_HEADER_LEN]),
        aead_id=header.aead_id,
    )
    # a zlib stream (RFC 1950), not JSON text: deflate, a window of at most 32 KiB, a header check
    assert plain[0] & 0x0F == 8 and plain[0] >> 4 <= 7 and (plain[0] << 8 | plain[1]) % 31 == 0
    assert len(json.loads(zlib.decompress(plain))["cases"]) == 1
    docs = Path(__file__).resolve().parents[2] / "docs"
    assert "plaintext is zlib-compressed JSON" in (docs / "http-api.md").read_text("utf-8")
    assert "zlib-compressed JSON" in (docs / "protocol.md").read_text("utf-8").split("## The sealed box")[1]


def test_open311_operations_document_their_geo_report_answers_and_refusals(document: dict[str, Any]) -> None:
    operations = [(m, p, op) for p, item in document["paths"].items() if p.startswith("/open311/")
                  for m, op in item.items()]  # fmt: skip
    assert len(operations) >= 8
    for method, path, operation in operations:
        responses = operation["responses"]
        ok = responses["201" if method == "post" else "200"]["content"]
        assert "application/json" in ok or "image/jpeg" in ok, (method, path)
        refused = responses["404"]
        assert "request.not_found" in refused["x-gridsync-codes"]
        items = _resolve(document, refused["content"]["application/json"]["schema"]["items"])
        assert set(items["required"]) == {"code", "description"}, (method, path)
        assert "text/xml" in refused["content"]
        fmt = [p for p in operation.get("parameters", ()) if p["name"] == "fmt"]
        assert not fmt or fmt[0]["schema"]["enum"] == ["json", "xml"], (method, path)
        assert "422" not in responses and "security" not in operation
