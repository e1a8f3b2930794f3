"""No client holds the server's connections for longer than the operating limits allow, and the
server keeps answering meanwhile: slow headers, silent connections, idle kept-alive connections,
oversized heads, trickling bodies, and more connections than the limit — against a real `serve`
process with its default limits (docs/server.md, "Operating limits")."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sync_server.config import ServerConfig
from tests.hostile import wire
from tests.hostile.drip import Drip

DEFAULTS = ServerConfig(data_dir=Path())
SLACK_S = 4.0


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[wire.Served]:
    with wire.served(tmp_path_factory.mktemp("connection-bounds"), devices=2) as world:
        yield world


def test_five_hundred_slow_drip_connections_are_all_closed_after_the_header_timeout(
    world: wire.Served,
) -> None:
    drips = Drip(world.port, 500, interval=1.0).start()
    silent = Drip(world.port, 20, interval=0).start()
    try:
        deadline = time.monotonic() + DEFAULTS.header_timeout_s + SLACK_S
        slowest_health = 0.0
        while time.monotonic() < deadline and (drips.held or silent.held or drips.opened < 500):
            started = time.monotonic()
            assert httpx.get(f"{world.server.url}/health", timeout=5).status_code == 200
            slowest_health = max(slowest_health, time.monotonic() - started)
            time.sleep(0.2)
        assert drips.opened == 500 and silent.opened == 20
        assert (drips.held, silent.held) == (0, 0)
        assert max(drips.closed_after + silent.closed_after) <= DEFAULTS.header_timeout_s + SLACK_S
        assert slowest_health < 1.0
    finally:
        drips.stop()
        silent.stop()


def test_an_idle_kept_alive_connection_is_closed(world: wire.Served) -> None:
    with wire.connect(world.port) as sock:
        sock.sendall(wire.head("GET", "/health", {}))
        assert wire.read_response(sock, 5)[0] == 200
        assert wire.closed_by_server(sock, DEFAULTS.keep_alive_timeout_s + SLACK_S)


def test_an_oversized_request_head_is_refused_and_closed(world: wire.Served) -> None:
    with wire.connect(world.port) as sock:
        headers = {f"X-Filler-{i}": "y" * 1000 for i in range(2 * DEFAULTS.max_header_bytes // 1000)}
        sock.sendall(wire.head("GET", "/health", headers))
        assert wire.read_response(sock, 5)[0] == 431
        assert wire.closed_by_server(sock, 5)


def test_a_trickling_body_is_cut_off_with_a_timeout(world: wire.Served) -> None:
    m = world.members[0]
    body = b"\0" * 100_000
    headers = wire.signed_headers(m, "POST", "/v1/segments", body)
    with wire.connect(world.port) as sock:
        sock.sendall(wire.head("POST", "/v1/segments", headers) + body[:1000])
        status, answer_headers, answer = wire.read_response(sock, DEFAULTS.body_idle_timeout_s + SLACK_S)
        assert (status, json.loads(answer)["error"]["code"]) == (408, "request.timeout")
        assert answer_headers.get("connection") == "close"
        assert wire.closed_by_server(sock, 5)


def test_connections_beyond_the_limit_are_answered_503_at_once(tmp_path: Path) -> None:
    with wire.served(tmp_path, devices=1, max_connections=40) as world:
        silent = Drip(world.port, 40, interval=0).start()
        try:
            time.sleep(1.0)
            started = time.monotonic()
            response = httpx.get(f"{world.server.url}/health", timeout=5)
            assert response.status_code == 503
            assert time.monotonic() - started < 1.0
        finally:
            silent.stop()
        assert httpx.get(f"{world.server.url}/health", timeout=5).status_code == 200
