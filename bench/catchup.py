"""4. Catch-up: a freshly enrolled phone pulling every case it may see.

The store is seeded through real segments (creates from many devices, applied by the reconciler);
then `gridsync-server serve` runs over it as its own process on 127.0.0.1, a supervisor's phone over
the whole city (a real `Device` in this process, real HTTP) enrolls and syncs until it holds them
all, and a worker's fresh phone makes her first pull of her two grids. Timed: the sync round, from
the phone. The baseline is reading the same case documents straight out of SQLite and parsing them
(`SELECT doc FROM cases` + `json.loads`; for the worker, the documents of her grids' cases): what
any pull has to pay at least.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from bench import fleet, serving
from bench.measure import workdir
from mobile.core.device import Device
from mobile.core.secrets import MemorySecretStore
from shared import crypto
from sync_server.city import CityCache
from sync_server.config import load_config
from sync_server.enrollment import create_code
from sync_server.reconcile import Reconciler
from sync_server.store import open_store
from sync_server.store.case_text import unpack


def _seed(data_dir: Any, keys: Any, members: list[fleet.Member], cases: int, hers: int) -> None:
    """`hers` cases in the first member's two grids, the rest spread over the others' grids."""
    store = open_store(data_dir)
    reconciler = Reconciler(store, load_config(data_dir), keys, CityCache(store))
    rest = cases - hers
    per = rest // (len(members) - 1)
    counts = [hers] + [
        per + (rest - per * (len(members) - 1) if k == 0 else 0) for k in range(len(members) - 1)
    ]
    public = crypto.public_raw(keys.encryption)
    for m, count in zip(members, counts, strict=True):
        for blob in fleet.Writer(m, public, seed=13).segments(count, 500, creates_only=True):
            reconciler.apply_segment(blob, fleet.NOW, fleet.NOW)
    store.close()


def _code(data_dir: Path, member: fleet.Member) -> str:
    store = open_store(data_dir)
    try:
        with store.transaction() as tx:
            tx.save_worker(member.worker_record())
        return create_code(store, member.worker_id, int(time.time()), 3600)
    finally:
        store.close()


async def _pull(url: str, code: str, folder: Path) -> tuple[float, int]:
    device = Device.open(folder, MemorySecretStore())
    await device.enroll(url, code, device_name=folder.name)
    try:
        start = time.perf_counter()
        report = await device.sync()
        seconds = time.perf_counter() - start
        row = device.store.one("SELECT COUNT(*) FROM server_cases")
        held = 0 if row is None else int(row[0])
        if not report.ok:
            raise RuntimeError(f"catch-up sync failed: {report.problems}")
    finally:
        device.close()
    return seconds, held


def catchup(cases: int, hers: int = 1000) -> dict[str, Any]:
    """A fresh supervisor's phone pulls the whole city; then a fresh worker's phone, whose two grids
    hold `hers` of the city's cases, makes her first pull (issue 13: ≤ 0.3 s at 50,000 cases)."""
    with workdir("catchup") as work:
        city, members = fleet.fleet(100, seed=13)
        keys = fleet.build_server(work / "server", city, members)
        _seed(work / "server", keys, members, cases, hers)
        db = sqlite3.connect(work / "server" / "gridsync.db")
        start = time.perf_counter()
        docs = [json.loads(unpack(row[0])) for row in db.execute("SELECT doc FROM cases")]
        base_s = time.perf_counter() - start
        worker = fleet.member(0, city, seed=99)  # the first member's grids, another worker
        grids = [c.code for c in worker.cells]
        start = time.perf_counter()
        her_docs = [
            json.loads(unpack(row[0]))
            for row in db.execute("SELECT doc FROM cases WHERE grid_code IN (?, ?)", (grids[0], grids[1]))
        ]
        her_base_s = time.perf_counter() - start
        db.close()
        supervisor = fleet.member(10_000, city, seed=13, role="supervisor")
        codes = [_code(work / "server", m) for m in (supervisor, worker)]
        with serving.serve(work / "server") as (url, _):
            seconds, held = asyncio.run(_pull(url, codes[0], work / "phone"))
            her_seconds, her_held = asyncio.run(_pull(url, codes[1], work / "worker"))
    if held != len(docs):
        raise RuntimeError(f"the phone holds {held} of {len(docs)} cases")
    if her_held != len(her_docs) or her_held != hers:
        raise RuntimeError(f"the worker's phone holds {her_held} cases, not her {len(her_docs)}")
    return {
        "cases": held,
        "seconds": seconds,
        "cases_per_s": held / seconds,
        "baseline_seconds": base_s,
        "ratio": base_s / seconds,
        "worker": {
            "city_cases": held,
            "her_cases": her_held,
            "seconds": her_seconds,
            "baseline_seconds": her_base_s,
            "ratio": her_base_s / her_seconds,
        },
    }
