"""Schemathesis against the server's own OpenAPI document, in-process (ASGI), bounded and seeded:
signed by an enrolled device, with every check schemathesis has, positive and negative data.

The signing happens where a phone signs: on the way out, over the exact bytes sent. An auth provider
puts the device id and a placeholder signature in the four `X-Gridsync-*` headers the document
declares as its security scheme; an ASGI wrapper in front of the app replaces a placeholder by the
device's real signature over the request as it arrives (method, path, query, body). A request whose
headers schemathesis removed or replaced (its `ignored_auth` probes) passes unsigned, as it should.

On top of schemathesis's own checks, every refusal must carry a code of the catalogue with that
code's status, documented by the operation for that status (`x-gridsync-codes`): in
`{"error": {"code"}}`, or on Open311 routes in the GeoReport description (`"request.not_found: …"`,
JSON or XML). Phases: examples, coverage (which also sends undeclared methods and drops headers)
and fuzzing; the stateful phase is off because the document declares no links between operations,
so it has nothing to chain.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure

from bench import fleet, harness
from shared import crypto
from shared.auth import (
    HEADER_DEVICE,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    new_nonce,
    sign_request,
)
from shared.errors import CATALOGUE

EXAMPLES = 25  # per operation and phase; ~16 operations: the whole file runs in well under a minute

ASGIApp = Callable[..., Any]
PLACEHOLDER = "sign-me"  # what the auth provider writes; the proxy signs only such a request


def signing_proxy(app: ASGIApp, member: fleet.Member, clock: harness.Clock) -> ASGIApp:
    """Reads the whole request; if it carries the placeholder, signs it as the device would."""

    async def proxy(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        headers = dict((k.decode("latin-1").lower(), v) for k, v in scope["headers"])
        if headers.get(HEADER_SIGNATURE.lower()) != PLACEHOLDER.encode():
            await app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0]
        query = scope.get("query_string", b"").decode("latin-1")
        try:
            signed = sign_request(member.signing, member.device_id, scope["method"], path, query, body, clock(),
                                  new_nonce())  # fmt: skip
        except Exception:  # a path that cannot be signed (spaces, non-ASCII): sent with the placeholder
            signed = {}
        wanted = {k.lower() for k in signed}
        kept = [(k, v) for k, v in scope["headers"] if k.decode("latin-1").lower() not in wanted]
        kept += [(k.lower().encode(), v.encode()) for k, v in signed.items()]
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await app({**scope, "headers": kept}, replay, send)

    return proxy


def _world() -> tuple[Path, harness.Server, fleet.Member]:
    """Built at import: schemathesis needs the app to generate the tests. (Its lazy fixture loader
    does not work with pytest 9: `request.node._nodeid` is gone.) The device is a supervisor's, so
    the review routes answer too; some cases exist for it to see."""
    data_dir = Path(tempfile.mkdtemp(prefix="gridsync-fuzz-")) / "server"
    city, _ = fleet.fleet(0, seed=81)
    members = [fleet.member(0, city, seed=81, role="supervisor")]
    # Rate limits off: every generated request reaches the route (429 stays documented everywhere).
    keys = fleet.build_server(data_dir, city, members, enroll_per_address_per_min=0, push_per_device_per_min=0,
                              push_per_address_per_min=0)  # fmt: skip
    server = harness.Server(data_dir)
    writer = fleet.Writer(members[0], crypto.public_raw(keys.encryption), seed=81)
    server.services.reconciler.apply_segment(writer.seal(writer.ops(20)), fleet.NOW, fleet.NOW)  # some cases
    return data_dir, server, members[0]


DATA_DIR, SERVER, MEMBER = _world()
#: Every check on (schemathesis's default, asserted below), both kinds of data, no example database.
#: Two exceptions, stated where they are configured: a sealed segment's validity is cryptographic, so
#: no schema can say which bytes are one ("schema-valid" random bytes are refused 400/413, rightly);
#: and Open311's query rules across parameters.
CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": True, "database": "none"},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True},
                   "stateful": {"enabled": False}},
        # The long-poll holds a request up to `wait` seconds by design: the run asks with wait=0 so it
        # stays bounded (the bounds of `wait` are proved in tests/server/test_openapi.py).
        "parameters": {"query.wait": 0},
        "operations": [
            {"include-name": "POST /v1/segments",
             "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "403", "404",
                                                                          "409", "413", "429"]}}},
            # Open311's query has rules across parameters that a schema cannot state: end_date not before
            # start_date, at most 90 days between them, a bbox not inverted.
            {"include-name": "GET /open311/v2/requests.{fmt}",
             "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "304", "400", "404", "429"]}}},
        ],
    }
)  # fmt: skip
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", signing_proxy(SERVER.app, MEMBER, SERVER.clock), config=CONFIG
)


@schema.auth(refresh_interval=None, retry_on=[])
class DeviceSignature:
    """The enrolled device's headers, with a placeholder the signing proxy replaces."""

    def get(self, case: Any, ctx: Any) -> str:
        return MEMBER.device_id

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = case.headers or {}
        case.headers.update(
            {HEADER_DEVICE: data, HEADER_TIMESTAMP: "0", HEADER_NONCE: "placeholder-nonce-0000",
             HEADER_SIGNATURE: PLACEHOLDER}
        )  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Iterator[None]:
    yield
    SERVER.close()
    shutil.rmtree(DATA_DIR.parent, ignore_errors=True)


SEEN: Counter[tuple[str, int, str]] = Counter()  # (operation, status, code): what the run provoked


class UndocumentedRefusal(Failure):
    def __init__(self, *, operation: str, message: str) -> None:
        super().__init__(operation=operation, title="Refusal not documented", message=message)


GEOREPORT_CODE = re.compile(r"^([a-z0-9_]+\.[a-z0-9_]+): ")


def refusal_code(response: Any, label: str) -> str:
    """The catalogue code of a refusal: `{"error": {"code"}}`, or on Open311 routes the GeoReport
    description's prefix (`[{"code": 404, "description": "request.not_found: …"}]`, or its XML)."""
    if label.split(" ", 1)[1].startswith("/open311/"):
        if "xml" in response.headers.get("content-type", [""])[0]:
            found = re.search(r"<description>([a-z0-9_]+\.[a-z0-9_]+): ", response.text)
            return found.group(1) if found else ""
        matched = GEOREPORT_CODE.match(json.loads(response.content)[0]["description"])
        return matched.group(1) if matched else ""
    return str(json.loads(response.content)["error"]["code"])


@schemathesis.check
def refusals_are_catalogued_and_documented(ctx: Any, response: Any, case: Any) -> bool | None:
    status = response.status_code
    label = case.operation.label
    if status < 400:
        SEEN[(label, status, "")] += 1
        return None
    try:
        code = refusal_code(response, label)
    except (ValueError, KeyError, TypeError, IndexError):
        raise UndocumentedRefusal(
            operation=label, message=f"{status}: not an error body: {response.text[:300]}"
        ) from None
    SEEN[(label, status, code)] += 1
    if code not in CATALOGUE or CATALOGUE[code].status != status:
        raise UndocumentedRefusal(operation=label, message=f"{code!r} answered with {status}")
    documented = case.operation.definition.raw.get("responses", {}).get(str(status), {})
    if code not in documented.get("x-gridsync-codes", ()) and status != 405:
        raise UndocumentedRefusal(operation=label, message=f"{code} ({status}) is not in the document")
    return None


@schema.parametrize()
def test_signed_generated_requests_pass_every_check(case: Any) -> None:
    case.call_and_validate()


def test_every_check_schemathesis_has_is_on() -> None:
    checks = schema.config.checks_config_for()
    names = [n for n in type(checks).__annotations__ if not n.startswith("_") and n != "max_response_time"]
    assert len(names) >= 14 and all(checks.get_by_name(name=n).enabled for n in names), names
    assert schema.config.generation.modes and len(schema.config.generation.modes) == 2


def test_the_run_reached_past_the_signature_check() -> None:
    """Proves the signing works: signed routes answered 2xx and refusals other than the signature's."""
    print(f"\nfuzz: {sum(SEEN.values())} requests; {dict(sorted(SEEN.items()))}")
    signed_ok = {
        label
        for (label, status, _), _n in SEEN.items()
        if status < 300 and label.split(" ")[1].startswith("/v1/")
    }
    assert {"GET /v1/changes", "GET /v1/conflicts", "PUT /v1/photos/{sha256}"} <= signed_ok, signed_ok
    codes = {code for (_, _, code) in SEEN}
    assert codes - {"", "request.unsigned", "request.bad_signature", "request.malformed"}, codes
