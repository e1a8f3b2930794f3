"""Rate limits: enrollment attempts per address, pushes per device and per address. Past its limit a
client gets `request.rate_limited` (429) with `Retry-After`, nothing is applied, and it is served
again once the wait has passed; a forged flood never spends a real device's budget.

The real app and services in-process (`bench.harness.Server`); the limiter's clock is a settable
number, so waiting is instant and exact.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench import fleet, harness
from shared import crypto
from shared.auth import new_nonce, sign_request
from sync_server.api.ratelimit import MemoryBuckets
from tests.hostile import wire

SEED = 83


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class World:
    def __init__(self, data_dir: Path, members: list[fleet.Member], public: bytes) -> None:
        self.server = harness.Server(data_dir)
        self.ticks = Ticks()
        self.server.app.state.limiter = MemoryBuckets(clock=self.ticks)
        self.members = members
        self.writers = {m.device_id: fleet.Writer(m, public, seed=SEED) for m in members}

    def send(self, method: str, path: str, *, address: str = "10.0.0.1", **kw: object) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.server.app, client=(address, 40000))
            async with httpx.AsyncClient(transport=transport, base_url=harness.SERVER_URL) as client:
                return await client.request(method, path, **kw)  # type: ignore[arg-type]

        return asyncio.run(go())

    def seal(self, m: fleet.Member) -> bytes:
        writer = self.writers[m.device_id]
        return writer.seal(writer.ops(1))

    def push(
        self, m: fleet.Member, blob: bytes | None = None, *, address: str = "10.0.0.1", forged: bool = False
    ) -> httpx.Response:
        """Push `blob` (or the device's next segment) as `m` signs it, or with a forged signature."""
        if blob is None:
            blob = b"\0" * 500 if forged else self.seal(m)
        if forged:
            headers = wire.forged_headers(m.device_id, len(blob), now=self.server.clock())
        else:
            headers = sign_request(m.signing, m.device_id, "POST", "/v1/segments", "", blob, self.server.clock(),
                                   new_nonce())  # fmt: skip
        headers["Content-Type"] = "application/octet-stream"
        return self.send("POST", "/v1/segments", address=address, content=blob, headers=headers)

    def enroll(self, code: str, *, address: str = "10.0.0.1") -> httpx.Response:
        keys = {"signing_key": crypto.b64e(bytes(32)), "encryption_key": crypto.b64e(bytes(32))}
        return self.send("POST", "/v1/enroll", address=address, content=json.dumps({"code": code, **keys}),
                         headers={"Content-Type": "application/json"})  # fmt: skip


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    city, members = fleet.fleet(3, seed=SEED, grid_count=16)
    keys = fleet.build_server(
        tmp_path / "server", city, members,
        enroll_per_address_per_min=6, enroll_per_address_burst=3,
        push_per_device_per_min=60, push_per_device_burst=2,
        push_per_address_per_min=60, push_per_address_burst=5,
    )  # fmt: skip
    world = World(tmp_path / "server", members, crypto.public_raw(keys.encryption))
    yield world
    world.server.close()


def _code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def test_enrollment_attempts_past_the_limit_are_refused_with_retry_after(world: World) -> None:
    assert [_code(world.enroll("wrong-code")) for _ in range(3)] == ["enroll.bad_code"] * 3
    refused = world.enroll(world.server.code_for(world.members[0].worker_id))  # even a right code
    assert (refused.status_code, _code(refused)) == (429, "request.rate_limited")
    assert refused.headers["Retry-After"] == "10"  # one token at 6 a minute
    assert _code(world.enroll("wrong-code", address="10.0.0.2")) == "enroll.bad_code"  # another address
    world.ticks.now += 10
    assert _code(world.enroll("wrong-code")) == "enroll.bad_code"


def test_pushes_past_a_devices_limit_are_refused_and_nothing_is_applied(world: World) -> None:
    a, b = world.members[0], world.members[1]
    assert [world.push(a).json()["status"] for _ in range(2)] == ["applied", "applied"]
    third = world.seal(a)
    refused = world.push(a, third)
    assert (refused.status_code, _code(refused), refused.headers["Retry-After"]) == (
        429, "request.rate_limited", "1",
    )  # fmt: skip
    assert world.server.services.store.device(a.device_id).last_seq == 2  # type: ignore[union-attr]
    assert world.push(b).json()["status"] == "applied"  # another device is not held up
    world.ticks.now += 1
    assert world.push(a, third).json()["status"] == "applied"  # the same bytes, resent after the wait


def test_pushes_past_an_addresss_limit_are_refused_before_the_body_is_read(world: World) -> None:
    a, b, c = world.members
    statuses = [world.push(m).status_code for m in (a, b, c, a, b)]
    assert statuses == [200] * 5
    refused = world.push(c)
    assert (refused.status_code, _code(refused)) == (429, "request.rate_limited")
    assert refused.headers.get("connection") == "close"  # its body was never read
    assert world.push(c, address="10.0.0.9").status_code == 200


def test_a_forged_flood_does_not_spend_a_devices_budget(world: World) -> None:
    a = world.members[0]
    for i in range(10):
        forged = world.push(a, address=f"10.1.0.{i}", forged=True)
        assert _code(forged) == "request.bad_signature"
    assert [world.push(a, address="10.2.0.1").status_code for _ in range(2)] == [200, 200]


def test_a_loopback_address_is_not_limited_per_address(world: World) -> None:
    """Loopback is exempt by default (`rate_limit_exempt_ips`): local tools, or a proxy on the same
    host that does not forward its clients' addresses (they would all share one bucket)."""
    assert [_code(world.enroll("wrong-code", address="127.0.0.1")) for _ in range(6)] == [
        "enroll.bad_code"
    ] * 6
