"""Section 4 of issue 12: real phones (`mobile.core.device.Device`) pushing and pulling through three
`gridsync-server serve` processes (real uvicorn, separate ports, as on separate machines) over one
PostgreSQL, one of them SIGKILLed mid-run and started again. Each request goes to any live process,
as behind a load balancer. Afterwards: every (device, seq) is in the op log exactly once, nothing is
held, every phone's view equals the server's (no change missing from any feed), and replaying the
phones' own segments, in the order the server applied them, into a fresh SQLite store reproduces
the cases."""

from __future__ import annotations

import asyncio
import random
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from mobile.core.device import Device
from mobile.core.secrets import MemorySecretStore
from shared.model import case_to_dict
from shared.rules import can_see
from sync_server.city import CityCache
from sync_server.cli import load_demo_city
from sync_server.config import ServerConfig, load_config, save_config
from sync_server.enrollment import add_worker, create_code
from sync_server.keys import create_keys, load_keys
from sync_server.reconcile import Reconciler
from sync_server.store import open_store
from sync_server.store.base import Store
from tests.faults.processes import ServeProcess
from tests.mobile.conftest import GRID_A, GRID_B, fix_in, run
from tests.postgres.checks import canonical_cases, problems

pytestmark = pytest.mark.postgres

PASSPHRASE = "bench-passphrase"  # tests.faults.processes.env() passes bench.fleet.PASSPHRASE
ROUNDS = 8
PEOPLE = (("w1", "worker", (GRID_A,)), ("w2", "worker", (GRID_A,)), ("w3", "worker", (GRID_B,)),
          ("s1", "supervisor", (GRID_A, GRID_B)))  # fmt: skip


class WallClock:
    def __call__(self) -> int:
        return int(time.time())


class Balancer(httpx.AsyncBaseTransport):
    """Sends each request to a random live `serve` process (another one if it cannot connect), as a
    load balancer in front of several machines does."""

    def __init__(self, servers: list[ServeProcess], rng: random.Random) -> None:
        self.servers, self.rng = servers, rng
        self.inner = httpx.AsyncHTTPTransport()
        self.sent: dict[int, int] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        order = self.servers[:]
        self.rng.shuffle(order)
        last: Exception | None = None
        for server in order:
            request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=server.port)
            try:
                response = await self.inner.handle_async_request(request)
            except httpx.ConnectError as exc:  # that machine is down: the balancer tries another
                last = exc
                continue
            self.sent[server.port] = self.sent.get(server.port, 0) + 1
            return response
        assert last is not None
        raise last

    async def aclose(self) -> None:
        await self.inner.aclose()


def _world(data_dir: Path, url: str) -> dict[str, str]:
    data_dir.mkdir(parents=True)
    create_keys(data_dir, PASSPHRASE)
    save_config(ServerConfig(data_dir=data_dir, database_url=url))
    load_demo_city(data_dir)
    store = open_store(data_dir)
    try:
        codes = {}
        for worker_id, role, grids in PEOPLE:
            add_worker(store, worker_id, name=worker_id, role=role, grids=list(grids), department=None)
            codes[worker_id] = create_code(store, worker_id, int(time.time()), 3600)
        return codes
    finally:
        store.close()


async def _work(phone: Device, rng: random.Random, others: list[Device], rounds: int) -> float:
    """A day of a phone: reports, notes and edits (on its own cases and others'), a sync after each."""
    mine: list[str] = []
    for _ in range(rounds):
        for _ in range(rng.randint(1, 3)):
            kind = rng.random()
            if not mine or kind < 0.4:
                grid = GRID_B if phone.identity.actor().grids == frozenset({GRID_B}) else GRID_A  # type: ignore[union-attr]
                mine.append(phone.report(category="0101", location=fix_in(grid, int(time.time()), jitter=0.0003, rng=rng),
                                         description=f"井盖 {rng.random():.6f}"))  # fmt: skip
            elif kind < 0.7:
                phone.add_note(rng.choice(mine), f"跟进 {rng.random():.6f}")
            else:
                phone.edit(rng.choice(mine), description=f"更正 {rng.random():.6f}")
        await phone.sync()  # may fail while a server is down: the next round sends it again
        await asyncio.sleep(rng.uniform(0.0, 0.1))
    return time.monotonic()


async def _killer(victim: ServeProcess, rng: random.Random, killed: list[float]) -> None:
    await asyncio.sleep(rng.uniform(0.5, 1.5))
    victim.kill()
    killed.append(time.monotonic())
    await asyncio.sleep(rng.uniform(0.2, 0.8))
    await asyncio.to_thread(victim.start)


def _settle(phones: list[Device]) -> None:
    for _ in range(6):
        reports = [run(p.sync()) for p in phones]
        if all(r.ok for r in reports) and all(p.pending().empty for p in phones):
            reports = [run(p.sync()) for p in phones]  # each pulls what the others' last rounds sent
            if all(r.ok for r in reports):
                return
    raise AssertionError(f"phones did not settle: {[r.problems for r in reports]}")


def _replay(store: Store, data_dir: Path, reference: Path, phones: list[Device]) -> Store:
    """A fresh SQLite store with the same keys, city, people and devices, given every phone's sealed
    segments in the order the server applied them (its change numbers say that order)."""
    reference.mkdir()
    shutil.copytree(data_dir / "keys", reference / "keys")
    save_config(ServerConfig(data_dir=reference))
    load_demo_city(reference)
    ref = open_store(reference)
    with ref.transaction() as tx:
        for worker in store.workers():
            tx.save_worker(worker)
        for device in store.devices():
            tx.add_device(type(device)(device.device_id, device.worker_id, device.signing_key,
                                       device.encryption_key, device.name, device.enrolled_at))  # fmt: skip
    segments: list[tuple[int, bytes]] = []
    for phone in phones:
        with phone.store.read() as conn:
            rows = conn.execute(
                "SELECT first_seq, last_seq, bytes FROM segments ORDER BY first_seq"
            ).fetchall()
        for first, last, blob in rows:
            outcomes = store.outcomes_of(phone.identity.device_id, first, last)  # type: ignore[union-attr]
            segments.append((min(o.change_seq for o in outcomes), bytes(blob)))
    reconciler = Reconciler(ref, load_config(reference), load_keys(reference, PASSPHRASE), CityCache(ref))
    now = int(time.time())
    for _, blob in sorted(segments):
        assert reconciler.apply_segment(blob, now, now)["status"] == "applied"
    return ref


def test_phones_through_three_servers_over_one_postgresql_one_killed_midway(
    tmp_path: Path, pg_url: str
) -> None:
    data_dir = tmp_path / "server"
    codes = _world(data_dir, pg_url)
    servers = [ServeProcess(data_dir, tmp_path / f"serve{i}.log") for i in range(3)]
    rng = random.Random(12)
    phones: list[Device] = []
    try:
        for server in servers:
            server.start()
        balancer = Balancer(servers, random.Random(5))
        for worker_id, _, _ in PEOPLE:
            phone = Device.open(
                tmp_path / worker_id, MemorySecretStore(), clock=WallClock(), transport=balancer
            )
            phone.retry_delay = 0.05
            run(phone.enroll("http://gridsync.test", codes[worker_id]))
            phones.append(phone)

        killed: list[float] = []

        async def day() -> list[float]:
            work = asyncio.gather(*(_work(p, random.Random(rng.random()), phones, ROUNDS) for p in phones))
            _, ended = await asyncio.gather(_killer(servers[1], random.Random(3), killed), work)
            return list(ended)

        ended = run(day())
        assert killed and killed[0] < max(ended)  # killed mid-run: phones were still at work after it
        _settle(phones)
        assert servers[1].kills == 1
        assert all(s.proc is not None and s.proc.poll() is None for s in servers)
        assert len(balancer.sent) == 3  # every process served requests
    finally:
        for server in servers:
            server.stop()

    store = open_store(data_dir)
    try:
        assert store.kind == "postgresql"
        positions = {d.device_id: d.last_seq for d in store.devices()}
        assert all(positions.values())
        assert problems(store, positions) == []
        for phone in phones:  # each phone's view is the server's: no change missing from its feed
            actor = phone.identity.actor()  # type: ignore[union-attr]
            local = {v.case_id: case_to_dict(v.case) for v in phone.cases()}
            visible = {c.case_id: case_to_dict(c) for c in store.cases() if can_see(c, actor)}
            assert local == visible, actor.worker_id
        ref = _replay(store, data_dir, tmp_path / "reference", phones)
        try:
            got: dict[str, Any] = canonical_cases(store)
            assert got == canonical_cases(ref)
        finally:
            ref.close()
    finally:
        store.close()
        for phone in phones:
            phone.close()
