"""Several `gridsync-server serve` processes over one PostgreSQL, as on separate machines, and real
phones (`mobile.core.device.Device`) in front of them.

Each machine has a data directory of its own (the same keys and config, copied as an operator
would) with `database_url` naming the test's database, and its own port on 127.0.0.1; the photo
folder is one directory shared by all of them (the documented multi-machine setup), here a symlink
in each data directory. Phones reach the machines through `Spread`, a load balancer in the phone's
transport: each request goes to the next machine in turn, with no health check, so a request to a
killed machine fails and the phone retries it (within its round, or on the next one).

`replay` applies the phones' own sealed segments, in the order the cluster committed them, to a
fresh SQLite store through the reconcile service: the reference the cluster must equal.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx

from bench import fleet, lattice
from bench.serving import NO_ADDRESS_LIMITS
from mobile.core.device import Device
from mobile.core.secrets import MemorySecretStore
from sync_server.city import CityCache
from sync_server.config import load_config
from sync_server.enrollment import create_code
from sync_server.keys import load_keys
from sync_server.reconcile import Reconciler
from sync_server.store import Store, open_store
from tests.faults.processes import ServeProcess
from tests.postgres.night import twin_data_dir


class Spread(httpx.AsyncBaseTransport):
    """Round-robin over the machines' ports, counting what each was sent and what is in flight."""

    def __init__(self, cluster: Cluster, machines: list[int], start: int = 0) -> None:
        self.cluster = cluster
        self.machines = machines
        self.turn = start
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        machine = self.machines[self.turn % len(self.machines)]
        self.turn += 1
        request.url = request.url.copy_with(port=self.cluster.machines[machine].port)
        key = (machine, request.method, request.url.path)
        self.cluster.in_flight[key] += 1
        try:
            response = await self.inner.handle_async_request(request)
            await response.aread()
        except httpx.TransportError:
            self.cluster.counts[f"machine {machine} failed"] += 1
            raise
        finally:
            self.cluster.in_flight[key] -= 1
        self.cluster.counts[f"machine {machine} answered {response.status_code}"] += 1
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Cluster:
    root: Path
    pg_url: str
    city: list[lattice.Cell]
    machines: list[ServeProcess] = field(default_factory=list)
    phones: list[Device] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    in_flight: Counter[tuple[int, str, str]] = field(default_factory=Counter)

    @property
    def reference_dir(self) -> Path:
        return self.root / "reference"

    def start(self) -> None:
        """All machines at once (each start waits for its /health)."""

        async def up() -> None:
            await asyncio.gather(*(asyncio.to_thread(m.start, 60) for m in self.machines))

        asyncio.run(up())

    def stop(self) -> None:
        for phone in self.phones:
            phone.close()
        for machine in self.machines:
            machine.stop()

    def store(self) -> Store:
        return open_store(self.pg_url)

    async def phone(self, member: fleet.Member, machines: list[int] | None = None) -> Device:
        """A real phone, enrolled over HTTP as `member` (who must have been added), behind `Spread`
        over `machines` (all of them by default), starting at a machine of its own."""
        store = self.store()
        try:
            code = create_code(store, member.worker_id, int(time.time()), 3600)
        finally:
            store.close()
        spread = Spread(self, machines or list(range(len(self.machines))), start=len(self.phones))
        device = Device.open(self.root / "phones" / member.worker_id, MemorySecretStore(), transport=spread)
        device.retry_delay = 0.05
        await device.enroll(self.machines[0].url, code, device_name=member.worker_id)
        self.phones.append(device)
        return device


def build(root: Path, pg_url: str, people: list[fleet.Member], city: list[lattice.Cell],
          machines: int = 3) -> Cluster:  # fmt: skip
    """Data directories for `machines` serve processes over `pg_url` (not started), the city and
    `people` in the database, and an untouched SQLite twin (same keys, same city) for `replay`."""
    cluster = Cluster(root, pg_url, city)
    fleet.build_server(cluster.reference_dir, city, [])
    shared_photos = root / "shared-photos"
    shared_photos.mkdir()
    first = root / "machine0"
    twin_data_dir(cluster.reference_dir, first, city, [], database_url=pg_url, **NO_ADDRESS_LIMITS)
    for i in range(machines):
        data_dir = root / f"machine{i}"
        if i:
            shutil.copytree(first, data_dir, ignore=shutil.ignore_patterns("photos"))
        (data_dir / "photos").symlink_to(shared_photos, target_is_directory=True)
        cluster.machines.append(ServeProcess(data_dir, root / f"machine{i}.log"))
    store = cluster.store()
    try:
        with store.transaction() as tx:
            for m in people:
                tx.save_worker(m.worker_record())
    finally:
        store.close()
    return cluster


def phone_segments(phone: Device) -> list[tuple[int, int, bytes]]:
    """The phone's sealed segments as it keeps them: (first seq, last seq, exact bytes)."""
    rows = phone.store.all("SELECT first_seq, last_seq, bytes FROM segments ORDER BY first_seq")
    return [(int(r[0]), int(r[1]), bytes(r[2])) for r in rows]


def replay(cluster: Cluster, phones: list[Device]) -> Store:
    """The phones' segments applied to the SQLite twin through the reconcile service, in the order
    the cluster committed them (by the first change number of each segment's ops: numbers are
    reserved under a lock held to commit, so they follow the commit order). Returns the twin's
    store, open; every segment must be applied."""
    pg = cluster.store()
    ref = open_store(cluster.reference_dir)
    try:
        with ref.transaction() as tx:
            for device in pg.devices():
                worker = pg.worker(device.worker_id)
                assert worker is not None
                tx.save_worker(worker)
                tx.add_device(replace(device, last_seq=0, last_hash=bytes(32)))
        ordered = []
        for phone in phones:
            device_id = phone.identity.device_id  # type: ignore[union-attr]
            for first, last, blob in phone_segments(phone):
                changes = [o.change_seq for o in pg.outcomes_of(device_id, first, last)]
                assert len(changes) == last - first + 1, f"{device_id[:8]} {first}-{last}: {changes}"
                ordered.append((min(changes), blob))
    finally:
        pg.close()
    config = load_config(cluster.reference_dir)
    reconciler = Reconciler(ref, config, load_keys(cluster.reference_dir, fleet.PASSPHRASE), CityCache(ref))
    now = int(time.time())
    for _, blob in sorted(ordered, key=lambda item: item[0]):
        receipt = reconciler.apply_segment(blob, now, now)
        assert receipt["status"] == "applied", receipt
    return ref


def outcomes(store: Store, phones: list[Device]) -> dict[tuple[str, int], tuple[str, str | None]]:
    """Every op's outcome and code, by (device, seq)."""
    found = {}
    for phone in phones:
        device_id = phone.identity.device_id  # type: ignore[union-attr]
        for o in store.outcomes_of(device_id, 1, 10**9):
            found[(device_id, o.seq)] = (o.outcome, o.code)
    return found
