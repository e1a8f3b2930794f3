"""Hostile segments: every spoiled segment is refused with its code, nothing is written, and the
server goes on serving. Each entry of the corpus goes through both doors: `POST /v1/segments` (a
signed request from the enrolled device) and the reconciler as the overnight ingest calls it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench import fleet, harness, inventory
from shared import crypto
from shared.auth import new_nonce, sign_request
from shared.errors import CATALOGUE, GridsyncError
from sync_server.enrollment import revoke_device
from tests.hostile import corpus

SEED = 61


def _names() -> list[str]:
    """The corpus's entry names, made with throwaway keys (they depend only on the seed)."""
    _, members = fleet.fleet(2, seed=SEED)
    writer = fleet.Writer(members[0], crypto.public_raw(crypto.new_encryption_key()), seed=SEED)
    writer.seal(writer.ops(4))
    return [h.name for h in corpus.corpus(writer, stranger=members[1], seed=SEED)]


NAMES = _names()


@dataclass
class World:
    data_dir: Path
    server: harness.Server
    writer: fleet.Writer
    stranger: fleet.Member
    revoked: fleet.Member
    entries: dict[str, corpus.Hostile]

    def post(self, blob: bytes, signer: fleet.Member | None = None) -> httpx.Response:
        m = signer or self.writer.member
        headers = sign_request(m.signing, m.device_id, "POST", "/v1/segments", "", blob, self.server.clock(),
                               new_nonce())  # fmt: skip
        headers["Content-Type"] = "application/octet-stream"

        async def go() -> httpx.Response:
            async with httpx.AsyncClient(
                transport=self.server.transport(), base_url=harness.SERVER_URL
            ) as client:
                return await client.post("/v1/segments", content=blob, headers=headers)

        return asyncio.run(go())

    def ingest(self, blob: bytes) -> dict[str, Any]:
        now = self.server.clock()
        return self.server.services.reconciler.apply_segment(blob, now, now)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("hostile") / "server"
    city, members = fleet.fleet(3, seed=SEED)
    keys = fleet.build_server(data_dir, city, members)
    server = harness.Server(data_dir)
    writer = fleet.Writer(members[0], crypto.public_raw(keys.encryption), seed=SEED)
    first = writer.seal(writer.ops(4))  # the device has history: the corpus continues a real chain
    assert server.services.reconciler.apply_segment(first, fleet.NOW, fleet.NOW)["status"] == "applied"
    revoke_device(server.services.store, members[2].device_id, fleet.NOW)
    entries = {h.name: h for h in corpus.corpus(writer, stranger=members[1], seed=SEED)}
    assert list(entries) == NAMES
    yield World(data_dir, server, writer, members[1], members[2], entries)
    server.close()


def _assert_refusal(response: httpx.Response, codes: frozenset[str]) -> str:
    body = response.json()
    code = body["error"]["code"]
    assert code in CATALOGUE, body
    assert response.status_code == CATALOGUE[code].status, body
    assert set(body["error"]) - {"context"} == {"code", "message", "message_zh", "detail"}, body
    assert code in codes, f"answered {code}, expected one of {sorted(codes)}"
    return code


@pytest.mark.parametrize("name", NAMES)
def test_hostile_segment_is_refused_over_http_and_nothing_is_written(world: World, name: str) -> None:
    entry = world.entries[name]
    before = inventory.digest(world.data_dir)
    response = world.post(entry.blob)
    assert response.status_code >= 400, f"{name} was accepted: {response.text[:300]}"
    _assert_refusal(response, entry.codes)
    assert inventory.digest(world.data_dir) == before, f"{name} changed the store"


@pytest.mark.parametrize("name", NAMES)
def test_hostile_segment_is_refused_by_the_ingest_path_and_nothing_is_written(
    world: World, name: str
) -> None:
    entry = world.entries[name]
    before = inventory.digest(world.data_dir)
    with pytest.raises(GridsyncError) as refused:
        world.ingest(entry.blob)
    assert refused.value.code in entry.codes, f"answered {refused.value.code}, expected {sorted(entry.codes)}"
    assert inventory.digest(world.data_dir) == before, f"{name} changed the store"


def test_revoked_device_is_refused_at_the_door_and_in_the_spool(world: World) -> None:
    writer = fleet.Writer(world.revoked, world.writer.server_public, seed=SEED)
    blob = writer.seal(writer.ops(3))
    before = inventory.digest(world.data_dir)
    _assert_refusal(world.post(blob, signer=world.revoked), frozenset({"device.revoked"}))
    with pytest.raises(GridsyncError, match=r"device\.revoked"):
        world.ingest(blob)
    assert inventory.digest(world.data_dir) == before


def test_segment_signed_for_another_device_is_refused(world: World) -> None:
    """The request is the stranger's (validly signed), the segment the writer's: refused."""
    shadow = world.writer.branch()  # never applied: the writer's chain stays where it was
    real = shadow.seal(shadow.ops(2))
    before = inventory.digest(world.data_dir)
    _assert_refusal(world.post(real, signer=world.stranger), frozenset({"segment.wrong_device"}))
    assert inventory.digest(world.data_dir) == before


def test_replayed_request_and_resent_segment_change_nothing(world: World) -> None:
    m = world.writer.member
    before_seq = world.writer.next_seq
    blob = world.writer.seal(world.writer.ops(3))
    headers = sign_request(m.signing, m.device_id, "POST", "/v1/segments", "", blob, world.server.clock(),
                           new_nonce())  # fmt: skip

    async def twice() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(
            transport=world.server.transport(), base_url=harness.SERVER_URL
        ) as client:
            first = await client.post("/v1/segments", content=blob, headers=headers)
            replay = await client.post("/v1/segments", content=blob, headers=headers)  # same nonce
            return first, replay, await client.get("/health")

    first, replay, health = asyncio.run(twice())
    assert first.status_code == 200 and first.json()["status"] == "applied"
    _assert_refusal(replay, frozenset({"request.replayed"}))
    after_first = inventory.digest(world.data_dir)
    resent = world.post(blob)  # a fresh request carrying the same segment: the stored receipt
    assert resent.status_code == 200
    assert resent.json() == {**first.json(), "status": "resent"}
    assert inventory.digest(world.data_dir) == after_first
    assert health.status_code == 200
    assert world.writer.next_seq == before_seq + 3


def test_same_sequence_with_other_content_is_quarantined_not_applied(world: World) -> None:
    w = world.writer
    other = w.branch()
    a = w.seal(w.ops(2))
    assert world.post(a).json()["status"] == "applied"
    other.rng.seed(SEED + 1)  # another history of the same sequence numbers
    b = other.seal(other.ops(2))
    before = inventory.counts(world.data_dir)
    _assert_refusal(world.post(b), frozenset({"segment.fork"}))
    after = inventory.counts(world.data_dir)
    assert after["quarantine"] == before["quarantine"] + 1
    assert {k: v for k, v in after.items() if k != "quarantine"} == {
        k: v for k, v in before.items() if k != "quarantine"
    }


def test_oversized_body_is_refused_before_it_is_read(world: World) -> None:
    limit = world.server.services.config.max_segment_bytes
    response = world.post(b"G" * (limit + 1))
    _assert_refusal(response, frozenset({"request.too_large", "segment.too_large"}))
    with pytest.raises(GridsyncError, match=r"segment\.too_large"):
        world.ingest(b"GSEG" + b"\x00" * limit)


def test_server_still_serves_after_the_corpus(world: World) -> None:
    w = world.writer
    blob = w.seal(w.ops(5))
    response = world.post(blob)
    assert response.status_code == 200, response.text
    assert [(o["outcome"], o["code"]) for o in response.json()["outcomes"]] == [("applied", None)] * 5
    # One segment was quarantined on purpose (the conflicting one); nothing else is left over.
    assert not inventory.problems(world.data_dir, {w.member.device_id: w.next_seq - 1}, quarantined=1)


def test_bomb_is_refused_without_inflating_it(world: World) -> None:
    """40 MiB of spaces compressed to ~40 KB: refused at the 32 MiB cap, never fully inflated."""
    entry = world.entries["decompression bomb (40 MiB of spaces)"]
    assert len(entry.blob) < 100_000
    with pytest.raises(GridsyncError, match=r"segment\.bomb"):
        world.ingest(entry.blob)
