"""Bounded before authenticated: what the headers can prove is checked before a byte of the body is
read, and a client that hangs up mid-body is a client disconnect in the log, never a server error.

Each test speaks raw HTTP to a real `gridsync-server serve` process on 127.0.0.1: it sends the
headers of a near-limit body and then *nothing*, so the only way to get an answer is to be refused
from the headers alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync_server.config import ServerConfig
from sync_server.enrollment import revoke_device
from sync_server.store import open_store
from tests.hostile import wire

NEAR_LIMIT = ServerConfig(data_dir=Path()).max_segment_bytes - 16
PROMPT_S = 3.0  # "refused before reading" means an answer while the body has not even started


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[wire.Served]:
    work = tmp_path_factory.mktemp("bounded-bodies")
    with wire.served(work, devices=3) as world:
        store = open_store(world.data_dir)
        try:
            revoke_device(store, world.members[2].device_id, int(time.time()))
        finally:
            store.close()
        yield world


def _refusal_without_body(world: wire.Served, headers: dict[str, str]) -> tuple[int, str]:
    with wire.connect(world.port) as sock:
        sock.sendall(wire.head("POST", "/v1/segments", headers))
        status, _, body = wire.read_response(sock, PROMPT_S)
    return status, json.loads(body)["error"]["code"]


def test_a_strangers_near_limit_body_is_refused_from_its_headers(world: wire.Served) -> None:
    headers = wire.forged_headers("0" * 32, NEAR_LIMIT)  # no device has this id
    assert _refusal_without_body(world, headers) == (401, "device.unknown")


def test_a_revoked_devices_body_is_refused_from_its_headers(world: wire.Served) -> None:
    headers = wire.forged_headers(world.members[2].device_id, NEAR_LIMIT)
    assert _refusal_without_body(world, headers) == (403, "device.revoked")


def test_a_stale_timestamp_is_refused_from_the_headers(world: wire.Served) -> None:
    headers = wire.forged_headers(world.members[0].device_id, NEAR_LIMIT, now=int(time.time()) - 3600)
    assert _refusal_without_body(world, headers) == (401, "request.expired")


def test_an_unsigned_body_is_refused_from_its_headers(world: wire.Served) -> None:
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(NEAR_LIMIT)}
    assert _refusal_without_body(world, headers) == (401, "request.unsigned")


def test_a_body_on_a_route_that_takes_none_is_refused_from_its_headers(world: wire.Served) -> None:
    m = world.members[0]
    headers = wire.signed_headers(m, "GET", "/v1/changes", b"", length=1_000_000)
    with wire.connect(world.port) as sock:
        sock.sendall(wire.head("GET", "/v1/changes", headers))
        status, _, body = wire.read_response(sock, PROMPT_S)
    assert (status, json.loads(body)["error"]["code"]) == (413, "request.too_large")


def test_a_strangers_chunked_body_on_a_route_that_takes_none_is_refused_from_its_headers(
    world: wire.Served,
) -> None:
    headers = wire.forged_headers("0" * 32, 0)  # no device has this id
    del headers["Content-Length"]
    headers["Transfer-Encoding"] = "chunked"  # a body of unknown length follows (here: never)
    with wire.connect(world.port) as sock:
        sock.sendall(wire.head("GET", "/v1/changes", headers))
        status, _, body = wire.read_response(sock, PROMPT_S)
    assert (status, json.loads(body)["error"]["code"]) == (401, "device.unknown")


def test_a_known_device_with_a_forged_signature_is_refused_after_its_body(world: wire.Served) -> None:
    """What the headers cannot prove (the signature) is checked once the body is in: refused, and the
    request log does not name the device it claimed to be."""
    m = world.members[1]
    body = b"x" * 1000
    headers = wire.forged_headers(m.device_id, len(body))
    with wire.connect(world.port) as sock:
        sock.sendall(wire.head("POST", "/v1/segments", headers) + body)
        status, _, answer = wire.read_response(sock, 10)
    assert (status, json.loads(answer)["error"]["code"]) == (401, "request.bad_signature")
    lines = _wait_for(world, lambda e: e.get("status") == 401 and e.get("path") == "/v1/segments")
    assert all(e.get("device") != m.device_id for e in lines)


def test_the_request_log_names_a_device_once_its_signature_is_verified(world: wire.Served) -> None:
    m = world.members[0]
    headers = wire.signed_headers(m, "GET", "/v1/changes", b"")
    with wire.connect(world.port) as sock:
        sock.sendall(wire.head("GET", "/v1/changes", headers))
        status, _, _ = wire.read_response(sock, 10)
    assert status == 200
    assert _wait_for(world, lambda e: e.get("device") == m.device_id and e.get("status") == 200)


def test_a_client_hanging_up_mid_body_is_a_disconnect_not_a_server_error(world: wire.Served) -> None:
    m = world.members[0]
    body = b"\0" * 200_000
    headers = wire.signed_headers(m, "POST", "/v1/segments", body)
    with wire.connect(world.port) as sock:
        sock.sendall(wire.head("POST", "/v1/segments", headers) + body[:50_000])
        time.sleep(0.5)
    hung_up = _wait_for(world, lambda e: e.get("outcome") == "client_disconnect")
    assert hung_up and all(e["status"] != 500 for e in hung_up)
    log = world.server.log.read_text("utf-8", "replace")
    assert "Traceback" not in log and "ClientDisconnect" not in log
    assert all(e.get("status") != 500 for e in world.log_lines())


def _wait_for(world: wire.Served, wanted: object, timeout: float = 10.0) -> list[dict[str, object]]:
    """The request log's lines that `wanted` accepts, once there is at least one (the server writes
    its line after the response has gone)."""
    assert callable(wanted)
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in world.log_lines() if wanted(e)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)
