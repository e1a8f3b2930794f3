"""Losing the database mid-request: the server answers a stable retry-later code (503
`server.unavailable`), never a 500, and recovers by itself when the database is back.

Fleet devices push sealed, chained segments over real HTTP to a real `gridsync-server serve` process
over PostgreSQL while the test ends the server's database connections again and again with
`pg_terminate_backend`. Every device retries what got no receipt, as a phone does. Afterwards every
(device, seq) is in the op log once, nothing is held, each device's changes feed carries an outcome
for each of its ops, and the cases equal those a SQLite server makes of the same segments."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from pathlib import Path

import httpx
import psycopg
import pytest

from bench import fleet
from shared import crypto
from shared.auth import new_nonce, sign_request
from shared.envelope import open_box
from sync_server.city import CityCache
from sync_server.config import load_config
from sync_server.keys import load_keys
from sync_server.reconcile import Reconciler
from sync_server.store import open_store
from tests.faults.processes import ServeProcess, signed_post
from tests.postgres.checks import canonical_cases, problems
from tests.postgres.night import twin_data_dir

pytestmark = pytest.mark.postgres

DEVICES = 6
SEGMENTS = 12
OPS = 15
TERMINATIONS = 8
DEADLINE_S = 150
SEEN: Counter[str] = Counter()


async def _push(url: str, m: fleet.Member, blobs: list[bytes]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    async with httpx.AsyncClient(base_url=url, timeout=15) as client:
        for blob in blobs:
            while True:
                assert time.monotonic() < deadline, "a device could not get its segments through"
                try:
                    response = await signed_post(client, m, blob)  # type: ignore[misc]
                except httpx.HTTPError:
                    SEEN["transport error"] += 1
                    await asyncio.sleep(0.05)
                    continue
                if response.status_code == 200:
                    SEEN[f"receipt {response.json()['status']}"] += 1
                    break
                assert response.status_code == 503, response.text  # only "try again later"
                assert response.json()["error"]["code"] == "server.unavailable", response.text
                SEEN["503"] += 1
                await asyncio.sleep(0.05)


def _terminate(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as db:
        rows = db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).fetchall()
    return len(rows)


async def _terminator(url: str, rng: random.Random, done: asyncio.Event) -> None:
    for _ in range(TERMINATIONS):
        await asyncio.sleep(rng.uniform(0.05, 0.4))
        if done.is_set():
            return
        SEEN["backends ended"] += await asyncio.to_thread(_terminate, url)


async def _run(url: str, pg_url: str, members: list[fleet.Member], streams: dict[str, list[bytes]]) -> None:
    done = asyncio.Event()
    terminator = asyncio.create_task(_terminator(pg_url, random.Random(7), done))
    await asyncio.gather(*(_push(url, m, streams[m.device_id]) for m in members))
    done.set()
    await terminator


def _outcomes_in_feed(url: str, m: fleet.Member, server_signing: bytes) -> list[int]:
    """The device's ops' sequence numbers as its changes feed tells them, from cursor 0."""
    seqs, cursor = [], 0
    with httpx.Client(base_url=url, timeout=15) as client:
        while True:
            query = f"cursor={cursor}&limit=100"
            headers = sign_request(
                m.signing, m.device_id, "GET", "/v1/changes", query, b"", int(time.time()), new_nonce()
            )
            response = client.get(f"/v1/changes?{query}", headers=headers)
            assert response.status_code == 200, response.text
            page = json.loads(
                open_box(
                    response.content,
                    recipient_private=m.encryption,
                    signer_public_raw=server_signing,
                    context=b"changes",
                    max_plain_bytes=64 << 20,
                )
            )
            seqs += [o["seq"] for o in page["outcomes"]]
            cursor = page["cursor"]
            if not page["more"]:
                return seqs


def test_ending_the_servers_database_connections_during_pushes_loses_nothing(
    tmp_path: Path, pg_url: str
) -> None:
    city, members = fleet.fleet(DEVICES, seed=11, grid_count=16)
    keys = fleet.build_server(tmp_path / "reference", city, members)
    twin_data_dir(tmp_path / "reference", tmp_path / "pg", city, members, database_url=pg_url)
    public = crypto.public_raw(keys.encryption)
    streams = {}
    for m in members:
        writer = fleet.Writer(m, public, seed=11)
        streams[m.device_id] = [writer.seal(writer.ops(OPS)) for _ in range(SEGMENTS)]

    server = ServeProcess(tmp_path / "pg", tmp_path / "serve.log")
    server.start()
    try:
        asyncio.run(_run(server.url, pg_url, members, streams))
        # the server recovered by itself: the same process answers, and every feed is whole
        assert server.proc is not None and server.proc.poll() is None
        signing = crypto.public_raw(keys.signing)
        for m in members:
            assert sorted(_outcomes_in_feed(server.url, m, signing)) == list(range(1, SEGMENTS * OPS + 1))
    finally:
        server.stop()
    print(f"\nconnection loss: {dict(SEEN)}")
    assert SEEN["backends ended"] >= TERMINATIONS // 2
    assert SEEN["503"] + SEEN["transport error"] >= 1, "no request met a lost connection: end more of them"
    assert (
        "Traceback" not in (tmp_path / "serve.log").read_text()
        or "500" not in (tmp_path / "serve.log").read_text()
    )

    # the reference: the same segments through a SQLite server never disturbed
    ref = open_store(tmp_path / "reference")
    reconciler = Reconciler(ref, load_config(tmp_path / "reference"), load_keys(tmp_path / "reference", fleet.PASSPHRASE),
                            CityCache(ref))  # fmt: skip
    now = int(time.time())
    for blobs in streams.values():
        for blob in blobs:
            assert reconciler.apply_segment(blob, now, now)["status"] == "applied"
    pg = open_store(tmp_path / "pg")
    try:
        assert problems(pg, {m.device_id: SEGMENTS * OPS for m in members}) == []
        assert canonical_cases(pg) == canonical_cases(ref)
    finally:
        pg.close()
        ref.close()
