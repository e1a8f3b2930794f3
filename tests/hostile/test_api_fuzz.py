"""Schemathesis against the server's own OpenAPI document, in-process (ASGI), bounded and seeded.

Two doors: as generated (so signed routes mostly answer `request.unsigned`), and through a signing
proxy — an ASGI wrapper that signs each generated request as an enrolled device would, after reading
its exact body — so the generated paths, queries and bodies reach the routes' own checks. Either
way: never a 5xx, and every refusal is `{"error": {"code", ...}}` with a code of the catalogue and
that code's HTTP status.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from bench import fleet, harness
from shared import crypto
from shared.auth import new_nonce, sign_request
from shared.errors import CATALOGUE

EXAMPLES = 20  # per operation and door; ~15 operations

ASGIApp = Callable[..., Any]


def signing_proxy(app: ASGIApp, member: fleet.Member, clock: harness.Clock) -> ASGIApp:
    """Reads the whole request, adds the device's signature headers, and passes it on."""

    async def proxy(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
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
        except Exception:  # a path that cannot be signed (spaces, non-ASCII): send it unsigned
            signed = {}
        wanted = {k.lower() for k in signed}
        headers = [(k, v) for k, v in scope["headers"] if k.decode("latin-1").lower() not in wanted]
        headers += [(k.lower().encode(), v.encode()) for k, v in signed.items()]
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await app({**scope, "headers": headers}, replay, send)

    return proxy


def _world() -> tuple[Path, harness.Server, fleet.Member]:
    """Built at import: schemathesis needs the app to generate the tests. (Its lazy fixture loader
    does not work with pytest 9: `request.node._nodeid` is gone.)"""
    data_dir = Path(tempfile.mkdtemp(prefix="gridsync-fuzz-")) / "server"
    city, members = fleet.fleet(2, seed=81)
    keys = fleet.build_server(data_dir, city, members)
    server = harness.Server(data_dir)
    writer = fleet.Writer(members[0], crypto.public_raw(keys.encryption), seed=81)
    server.services.reconciler.apply_segment(writer.seal(writer.ops(20)), fleet.NOW, fleet.NOW)  # some cases
    return data_dir, server, members[0]


DATA_DIR, SERVER, MEMBER = _world()
plain = schemathesis.openapi.from_asgi("/openapi.json", SERVER.app)
signed = schemathesis.openapi.from_asgi("/openapi.json", signing_proxy(SERVER.app, MEMBER, SERVER.clock))


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Iterator[None]:
    yield
    SERVER.close()
    shutil.rmtree(DATA_DIR.parent, ignore_errors=True)


SEEN: Counter[tuple[str, int, str]] = Counter()  # (door, status, code): what the run tried


def _check(response: Any, door: str) -> None:
    status = response.status_code
    code = ""
    if status >= 400:
        try:
            code = str(json.loads(response.content)["error"]["code"])
        except (ValueError, KeyError, TypeError):
            code = "<not a catalogued error body>"
    SEEN[(door, status, code)] += 1
    assert status < 500, f"{status}: {response.text[:500]}"
    if status >= 400:
        body = json.loads(response.content)
        assert isinstance(body, dict) and isinstance(body.get("error"), dict), body
        code = body["error"].get("code")
        assert code in CATALOGUE, f"undocumented code {code!r}"
        assert CATALOGUE[code].status == status, f"{code} answered with {status}"
        assert set(body["error"]) == {"code", "message", "message_zh", "detail"}, body


_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@plain.parametrize()
@_SETTINGS
def test_generated_requests_never_5xx_and_refusals_are_catalogued(case: Any) -> None:
    _check(case.call(), "plain")


@signed.parametrize()
@_SETTINGS
def test_generated_signed_requests_never_5xx_and_refusals_are_catalogued(case: Any) -> None:
    _check(case.call(), "signed")


def test_the_signing_door_reaches_past_the_signature_check() -> None:
    """Proves the proxy works: signed requests got answers other than `request.unsigned`."""
    signed_codes = {code for (door, _, code), _n in SEEN.items() if door == "signed"}
    signed_ok = sum(n for (door, status, _), n in SEEN.items() if door == "signed" and status < 400)
    print(f"\nfuzz: {sum(SEEN.values())} requests; {dict(sorted(SEEN.items()))}")
    assert signed_ok > 0 and signed_codes - {"", "request.unsigned", "request.bad_signature"}
