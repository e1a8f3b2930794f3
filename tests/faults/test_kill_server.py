"""SIGKILL the server at random moments while devices push, and while `ingest` runs; restart; let
the devices retry (or run the ingest again). Afterwards the store equals what a never-killed server
makes of the same segments: no op lost, none applied twice, nothing left in the backlog.

Devices here are fleet writers (`bench.fleet`): sealed, chained segments pushed over real HTTP to a
real `gridsync-server serve` process on 127.0.0.1, each resend byte-identical, as a phone resends.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from bench import fleet, inventory
from shared import crypto
from tests.faults.processes import ROOT, ServeProcess, env, reference, signed_post

DEVICES = 12
SEGMENTS = 25
OPS = 40
KILLS = 4
DEADLINE_S = 120
TOTALS: Counter[str] = Counter()  # kills, retries, segments (docs/reliability.md)


def _night(data_dir: Path, seed: int) -> tuple[list[fleet.Member], dict[str, list[bytes]]]:
    city, members = fleet.fleet(DEVICES, seed=seed, grid_count=64)
    keys = fleet.build_server(data_dir, city, members)
    public = crypto.public_raw(keys.encryption)
    streams = {}
    for m in members:
        writer = fleet.Writer(m, public, seed=seed)
        streams[m.device_id] = [writer.seal(writer.ops(OPS)) for _ in range(SEGMENTS)]
    return members, streams


async def _push(server: ServeProcess, m: fleet.Member, blobs: list[bytes], rng: random.Random) -> None:
    """Push a device's segments, sometimes two out of order; retry whatever got no receipt. A `held`
    segment (sent before its predecessor) is pushed again at the end, as a phone does until its
    outcomes arrive."""
    order = list(range(len(blobs)))
    for i in range(0, len(order) - 1, 2):
        if rng.random() < 0.3:
            order[i], order[i + 1] = order[i + 1], order[i]
    todo = [*order, *order]  # a second pass: resend anything held, confirm "resent" for the rest
    deadline = time.monotonic() + DEADLINE_S
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        for index in todo:
            while True:
                assert time.monotonic() < deadline, "a device could not get its segments through"
                try:
                    response = await signed_post(client, m, blobs[index])  # type: ignore[misc]
                except httpx.HTTPError:
                    TOTALS["retries"] += 1
                    await asyncio.sleep(0.05)
                    continue
                if response.status_code == 200:
                    TOTALS[f"receipt {response.json()['status']}"] += 1
                    break
                assert response.status_code in (503, 507), response.text  # only "try again later"
                TOTALS["retries"] += 1
                await asyncio.sleep(0.05)


async def _killer(server: ServeProcess, rng: random.Random, done: asyncio.Event) -> None:
    for _ in range(KILLS):
        await asyncio.sleep(rng.uniform(0.05, 0.6))
        if done.is_set():
            return
        server.kill()
        await asyncio.sleep(rng.uniform(0.0, 0.3))
        await asyncio.to_thread(server.start)


async def _night_under_fire(server: ServeProcess, members: list[fleet.Member], streams: dict[str, list[bytes]],
                            seed: int) -> None:  # fmt: skip
    rng = random.Random(seed)
    done = asyncio.Event()
    killer = asyncio.create_task(_killer(server, random.Random(seed + 1), done))
    await asyncio.gather(
        *(_push(server, m, streams[m.device_id], random.Random(rng.random())) for m in members)
    )
    done.set()
    await killer


@pytest.mark.parametrize("seed", [1, 2])
def test_killing_the_server_while_devices_push_loses_nothing(seed: int, tmp_path: Path) -> None:
    data_dir = tmp_path / "server"
    members, streams = _night(data_dir, seed)
    pristine = tmp_path / "pristine"
    shutil.copytree(data_dir, pristine)
    server = ServeProcess(data_dir, tmp_path / "serve.log")
    server.start()
    try:
        asyncio.run(_night_under_fire(server, members, streams, seed))
    finally:
        server.stop()
    TOTALS["kills"] += server.kills
    TOTALS["segments"] += DEVICES * SEGMENTS
    assert server.kills >= 1
    expected = {m.device_id: SEGMENTS * OPS for m in members}
    assert inventory.problems(data_dir, expected) == []
    ref = reference(pristine, tmp_path, streams)
    assert inventory.canonical_cases(data_dir) == inventory.canonical_cases(ref)
    assert inventory.counts(data_dir) == inventory.counts(ref)


# --- the overnight ingest -----------------------------------------------------------------------------


def _ingest(data_dir: Path, spool: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "sync_server.cli", "--data-dir", str(data_dir), "ingest",
                             str(spool), "--quiet"], env=env(), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip


@pytest.mark.parametrize("seed", [3, 4])
def test_killing_the_ingest_midway_and_running_it_again_loses_nothing(seed: int, tmp_path: Path) -> None:
    data_dir = tmp_path / "server"
    members, streams = _night(data_dir, seed)
    pristine = tmp_path / "pristine"
    shutil.copytree(data_dir, pristine)
    spool = tmp_path / "spool"
    spool.mkdir()
    for device_id, blobs in streams.items():
        for blob in blobs:
            first_seq = int.from_bytes(blob[38:46], "big")
            (spool / f"{device_id}-{first_seq:012d}.seg").write_bytes(blob)
    rng = random.Random(seed)
    kills = 0
    for _ in range(KILLS):
        proc = _ingest(data_dir, spool)
        time.sleep(rng.uniform(0.3, 1.5))
        if proc.poll() is not None:
            break  # finished before the kill: nothing left to interrupt
        proc.kill()
        proc.wait(timeout=30)
        kills += 1
    final = _ingest(data_dir, spool)
    assert final.wait(timeout=300) == 0
    TOTALS["ingest kills"] += kills
    assert kills >= 1, "the ingest finished before any kill: make the night bigger"
    assert sorted(p.name for p in spool.glob("*.seg")) == []
    assert len(list((spool / "done").glob("*.seg"))) == DEVICES * SEGMENTS
    expected = {m.device_id: SEGMENTS * OPS for m in members}
    assert inventory.problems(data_dir, expected) == []
    ref = reference(pristine, tmp_path, streams)
    assert inventory.canonical_cases(data_dir) == inventory.canonical_cases(ref)
    assert inventory.counts(data_dir) == inventory.counts(ref)


def test_kill_figures() -> None:
    print(f"\nkills: {dict(TOTALS)}")
