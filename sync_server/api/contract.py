"""The API's contract as the OpenAPI document states it: answers, refusals, signing, bounds.

A route declares its contract in its decorator with `documented(...)`: the model of its JSON answer
(or its binary media type), every refusal code it can answer grouped by HTTP status (each response
lists its codes in its description and in `x-gridsync-codes`), whether it is signed, and its request
body. `install(app)` finishes the document once per app: the four signing headers as security
schemes, FastAPI's 422 removed (validation failures answer 400 `request.malformed`), and the
refusals that middleware may give any route (a status-429 code of the catalogue, when there is one).

The tests hold the document to the server: schemathesis, signed, with all its checks, and a client
generated from the document (tests/hostile/test_api_fuzz.py, tests/server/test_openapi*.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, TypeAdapter

from shared.auth import HEADER_DEVICE, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP
from shared.errors import CATALOGUE
from sync_server.api import schemas
from sync_server.api.schemas import ErrorBody
from sync_server.config import ServerConfig

#: What any signed route may answer before it runs: the body limit, then the signature check.
SIGNATURE_CODES = (
    "request.malformed",
    "request.too_large",
    "request.unsigned",
    "request.bad_signature",
    "request.expired",
    "request.replayed",
    "device.unknown",
    "device.revoked",
)

#: The signature check's own refusals (counted by code in `gridsync_auth_refusals_total`).
AUTH_CODES = frozenset(SIGNATURE_CODES) - {"request.malformed", "request.too_large"}

SIGNING = (
    "Every request except `POST /v1/enroll`, `/health`, `/metrics` and `/open311/*` carries four "
    "headers: the device id, the epoch-second timestamp, a fresh nonce (16-128 url-safe characters) "
    "and an Ed25519 signature (base64url, no padding) by the device's enrolled key over\n\n"
    "    GRIDSYNC-REQ-V1\\n{METHOD}\\n{path as sent}\\n{query, parameters sorted}\\n"
    "{timestamp}\\n{nonce}\\n{sha256 hex of the body}\n\n"
    "(shared/auth.py). A timestamp outside ±300 s is `request.expired`, a nonce seen before "
    "`request.replayed`."
)
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "device": {"type": "apiKey", "in": "header", "name": HEADER_DEVICE,
               "description": "The enrolled device's id: 32 lower-case hex digits."},
    "timestamp": {"type": "apiKey", "in": "header", "name": HEADER_TIMESTAMP,
                  "description": "When the device signed, in epoch seconds (±300 s of the server)."},
    "nonce": {"type": "apiKey", "in": "header", "name": HEADER_NONCE,
              "description": "16-128 characters of [A-Za-z0-9_-], never repeated by the device."},
    "signature": {"type": "apiKey", "in": "header", "name": HEADER_SIGNATURE, "description": SIGNING},
}  # fmt: skip
SIGNED_REQUIREMENT: list[dict[str, list[str]]] = [{name: [] for name in SECURITY_SCHEMES}]

BINARY = {"type": "string", "format": "binary"}
REF = "#/components/schemas/"
ERROR_BODY = REF + "ErrorBody"
#: The JSON bodies routes read themselves (FastAPI does not see them), by model name: `finish` adds
#: them to the components, so a generated client names them as the server does.
BODIES: dict[str, dict[str, Any]] = {}


def refusal_responses(codes: Iterable[str]) -> dict[int | str, dict[str, Any]]:
    """One response per HTTP status of `codes`, each naming its codes. Unknown codes are a bug."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        status = CATALOGUE[code].status
        if code not in by_status.setdefault(status, []):
            by_status[status].append(code)
    return {
        status: {
            "model": ErrorBody,
            "description": "Refused: " + ", ".join(f"`{c}`" for c in sorted(listed)),
            "x-gridsync-codes": sorted(listed),
        }
        for status, listed in sorted(by_status.items())
    }


def documented(
    *codes: str,
    signed: bool = False,
    answer: type[BaseModel] | None = None,
    binary_answer: bool = False,
    json_body: type[BaseModel] | None = None,
    binary_body: str | None = None,
    no_content: str | None = None,
) -> dict[str, Any]:
    """Keyword arguments for a route decorator: `@router.post(path, **documented(...))`.

    `answer` documents the JSON of a 200 without validating it at run time (`response_model` is
    None); `binary_answer` an `application/octet-stream` 200. `json_body` / `binary_body` (its
    description) document a body the route reads itself. `no_content` (when) documents a 204.
    `signed` adds the signature's refusals and the security requirement.
    """
    every = (*SIGNATURE_CODES, *codes) if signed else ("request.malformed", *codes)
    responses = refusal_responses(every)
    if answer is not None:
        responses[200] = {"model": answer, "description": "Done."}
    if binary_answer:
        responses[200] = {
            "description": "The bytes.",
            "content": {"application/octet-stream": {"schema": BINARY}},
        }
    if no_content is not None:
        responses[204] = {"description": no_content}
    extra: dict[str, Any] = {}
    if signed:
        extra["security"] = SIGNED_REQUIREMENT
    if json_body is not None:
        BODIES[json_body.__name__] = json_body.model_json_schema(ref_template=REF + "{model}")
        schema = {"$ref": REF + json_body.__name__}
        extra["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    if binary_body is not None:
        extra["requestBody"] = {
            "required": True,
            "description": binary_body,
            "content": {"application/octet-stream": {"schema": {**BINARY, "minLength": 1}}},
        }
    out: dict[str, Any] = {"responses": responses, "openapi_extra": extra}
    if answer is not None or binary_answer:
        out["response_model"] = None
    return out


def install(app: FastAPI, config: ServerConfig) -> None:
    """Make `app.openapi()` return the finished document (built once, then cached by FastAPI)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            app.openapi_schema = with_limits(finish(document), config)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _short_operation_ids(document: dict[str, Any]) -> None:
    """`push_segment` rather than FastAPI's `push_segment_v1_segments_post`: the name of the route's
    function, which is what a generated client calls its method. Kept long where two would clash."""
    operations = [op for item in document.get("paths", {}).values() for op in item.values()]
    short = [str(op.get("summary", "")).lower().replace(" ", "_") for op in operations]
    for operation, name in zip(operations, short, strict=True):
        if name and short.count(name) == 1:
            operation["operationId"] = name


def with_limits(document: dict[str, Any], config: ServerConfig) -> dict[str, Any]:
    """This server's configured limits where a route's own bound is only the hard ceiling."""
    limits = {
        ("/v1/changes", "get", "limit"): config.changes_limit_max,
        ("/v1/photos/{sha256}", "put", "size"): config.max_photo_bytes,
    }
    for (path, method, name), most in limits.items():
        operation = document["paths"].get(path, {}).get(method, {})
        for parameter in operation.get("parameters", ()):
            if parameter["name"] == name:
                schema = parameter["schema"]
                schema["maximum"] = min(schema.get("maximum", most), most)
    if config.metrics_token:
        document["components"]["securitySchemes"]["metricsToken"] = {"type": "http", "scheme": "bearer"}
        document["paths"]["/metrics"]["get"]["security"] = [{"metricsToken": []}]
    return document


def finish(document: dict[str, Any]) -> dict[str, Any]:
    """Security schemes, named bodies, short operation ids, no 422, middleware refusals everywhere."""
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    for name, body in BODIES.items():
        for nested, schema in body.get("$defs", {}).items():
            components.setdefault("schemas", {}).setdefault(nested, schema)
        components.setdefault("schemas", {})[name] = {k: v for k, v in body.items() if k != "$defs"}
    _short_operation_ids(document)
    _open311(document)
    middleware = {
        status: {k: v for k, v in response.items() if k != "model"}
        for status, response in refusal_responses(c for c, s in CATALOGUE.items() if s.status == 429).items()
    }
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            if "open311" in operation.get("tags", ()):
                continue  # GeoReport form, stated in full by `_open311`
            for status, response in middleware.items():
                responses.setdefault(str(status), response)
            for response in responses.values():
                if "x-gridsync-codes" in response:  # JSON, whatever the route's own media type
                    response["content"] = {"application/json": {"schema": {"$ref": ERROR_BODY}}}
    schemas = components.get("schemas", {})
    text = repr(document["paths"])
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{unused}" not in text:
            schemas.pop(unused, None)
    return document


# --- Open311 --------------------------------------------------------------------------------------
# The Open311 routes are built in a factory and answer in GeoReport form (JSON or XML, refusals
# included: `sync_server.api.open311`), so their contract is stated here, by path, and applied to the
# document in `finish`.

OPEN311 = "/open311/v2"
_READ = ("request.not_found",)
#: (method, path) → (the 200/201 answer's JSON model, the refusal codes)
OPEN311_OPERATIONS: dict[tuple[str, str], tuple[Any, tuple[str, ...]]] = {
    ("get", f"{OPEN311}/discovery.{{fmt}}"): (schemas.Open311Discovery, _READ),
    ("get", f"{OPEN311}/services.{{fmt}}"): (list[schemas.Open311Service], _READ),
    ("get", f"{OPEN311}/services/{{service_code}}.{{fmt}}"): (schemas.Open311ServiceDefinition, _READ),
    ("get", f"{OPEN311}/requests.{{fmt}}"): (list[schemas.Open311Request], ("request.malformed", *_READ)),
    ("get", f"{OPEN311}/requests/{{service_request_id}}.{{fmt}}"): (list[schemas.Open311Request], _READ),
    ("get", f"{OPEN311}/tokens/{{token}}.{{fmt}}"): (list[schemas.Open311Token], _READ),
    ("get", f"{OPEN311}/media/{{case_id}}/{{photo_id}}.jpg"): (None, _READ),
    ("post", f"{OPEN311}/requests.{{fmt}}"): (
        list[schemas.Open311Filed],
        ("request.malformed", "case.no_grid", "case.unknown_category", "op.bad_field", "request.forbidden",
         "request.not_found", "request.too_large", "request.rate_limited"),
    ),
}  # fmt: skip
_COMMA_LIST = r"^\s*[^,\s][^,]*(,\s*[^,\s][^,]*)*$"
_NUMBER = r"\s*[-+]?[0-9]+(\.[0-9]+)?\s*"
OPEN311_PARAMETERS: dict[str, dict[str, Any]] = {
    "fmt": {"type": "string", "enum": ["json", "xml"]},
    "status": {"type": "string", "pattern": r"^(open|closed)(,(open|closed))*$"},
    "start_date": {"type": "string", "format": "date-time"},
    "end_date": {"type": "string", "format": "date-time"},
    "page": {"type": "integer", "minimum": 1, "maximum": 10_000},
    "page_size": {"type": "integer", "minimum": 1, "maximum": 1000},
    "service_request_id": {"type": "string", "pattern": _COMMA_LIST},
    "service_code": {"type": "string", "pattern": _COMMA_LIST},
    "bbox": {"type": "string", "pattern": f"^{_NUMBER},{_NUMBER},{_NUMBER},{_NUMBER}$"},
}
_XML = {"text/xml": {"schema": {"type": "string", "description": "The same fields, in GeoReport XML."}}}


def _open311(document: dict[str, Any]) -> None:
    schemas_ = document.setdefault("components", {}).setdefault("schemas", {})

    def ref(model: Any) -> dict[str, Any]:
        schema = TypeAdapter(model).json_schema(ref_template=REF + "{model}")
        schemas_.update(schema.pop("$defs", {}))
        return schema

    errors = {"application/json": {"schema": ref(list[schemas.GeoReportError])}, **_XML}
    for (method, path), (answer, codes) in OPEN311_OPERATIONS.items():
        operation = document.get("paths", {}).get(path, {}).get(method)
        if operation is None:
            continue
        for parameter in operation.get("parameters", ()):
            if parameter["name"] in OPEN311_PARAMETERS:
                parameter["schema"] = dict(OPEN311_PARAMETERS[parameter["name"]])
        etag = {"ETag": {"required": True, "schema": {"type": "string"}}}
        if answer is None:
            ok = {"description": "A published photo.", "headers": etag,
                  "content": {"image/jpeg": {"schema": BINARY}}}  # fmt: skip
        else:
            ok = {"description": "Done.", "content": {"application/json": {"schema": ref(answer)}, **_XML}}
        responses: dict[str, Any] = {"201" if method == "post" else "200": ok}
        if method == "get":
            ok["headers"] = etag
            responses["304"] = {"description": "Not modified (`If-None-Match`, `If-Modified-Since`)."}
        for status, response in refusal_responses(codes).items():
            described = {k: v for k, v in response.items() if k != "model"}
            responses[str(status)] = {**described, "content": errors}
        operation["responses"] = responses
