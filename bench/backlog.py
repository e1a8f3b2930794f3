"""2. A night's backlog: N ops from D devices as segment files in a spool, through `ingest`.

The spool is made in parallel (one process per core) and cached under `bench/.cache/`, keyed by
its parameters, together with the data directory the devices are enrolled in (the segments are
sealed to that server's key). Each run copies the data directory and hard-links the spool files,
then runs `python -m sync_server.cli ingest` as a child process: wall time, and its peak resident
memory (VmHWM polled from /proc).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench import fleet, inventory, lattice, throughput
from bench.measure import CACHE, run_child, workdir
from shared import crypto
from sync_server.keys import load_public_keys

OPS_PER_SEGMENT = 100
FORMAT = 1  # bump when the generator changes: old caches are ignored


def _write_devices(args: tuple[Path, bytes, list[int], int, int, int]) -> int:
    spool, public, indexes, per_device, grid_count, seed = args
    city = lattice.cells(grid_count)
    written = 0
    for index in indexes:
        writer = fleet.Writer(fleet.member(index, city, seed=seed), public, seed=seed)
        for blob in writer.segments(per_device, OPS_PER_SEGMENT):
            first_seq = int.from_bytes(blob[38:46], "big")
            (spool / f"{writer.member.device_id}-{first_seq:012d}.seg").write_bytes(blob)
            written += 1
    return written


def night(ops: int, devices: int, seed: int = 3, grid_count: int = 4509) -> Path:
    """The cached night: `<key>/template` (data dir) and `<key>/spool` (segment files)."""
    key = CACHE / f"night-v{FORMAT}-{ops}ops-{devices}dev-{OPS_PER_SEGMENT}per-s{seed}"
    if (key / "ready").exists():
        return key
    shutil.rmtree(key, ignore_errors=True)
    key.mkdir(parents=True)
    city, members = lattice.cells(grid_count), []
    members = [fleet.member(i, city, seed=seed) for i in range(devices)]
    fleet.build_server(key / "template", city, members)
    public = load_public_keys(key / "template").encryption_key
    spool = key / "spool"
    spool.mkdir()
    workers = os.cpu_count() or 2
    chunks = [list(range(devices))[i::workers] for i in range(workers)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pool.map(_write_devices, [(spool, public, c, ops // devices, grid_count, seed) for c in chunks])
    (key / "ready").write_text(json.dumps({"ops": ops, "devices": devices}))
    return key


def ingest(ops: int, devices: int) -> dict[str, Any]:
    started = time.perf_counter()
    key = night(ops, devices)
    generated = time.perf_counter() - started
    with workdir("backlog") as work:
        data_dir = work / "server"
        shutil.copytree(key / "template", data_dir)
        spool = work / "spool"
        spool.mkdir()
        files = sorted((key / "spool").iterdir())
        spool_bytes = 0
        for f in files:
            os.link(f, spool / f.name)
            spool_bytes += f.stat().st_size
        env = {**os.environ, "GRIDSYNC_PASSPHRASE": fleet.PASSPHRASE}
        run = run_child([sys.executable, "-m", "sync_server.cli", "--data-dir", str(data_dir), "ingest",
                         str(spool), "--quiet"], env=env)  # fmt: skip
        if run.returncode != 0:
            raise RuntimeError(f"ingest failed ({run.returncode}): {run.stderr[-2000:]}")
        applied = inventory.counts(data_dir)["ops"]
        base_s = throughput.baseline(_rows(ops), work / "baseline.db")
    if applied != ops // devices * devices:
        raise RuntimeError(f"ingest applied {applied} of {ops} ops")
    return {
        "ops": applied,
        "devices": devices,
        "segment_files": len(files),
        "spool_mb": spool_bytes / 1e6,
        "seconds": run.seconds,
        "ops_per_s": applied / run.seconds,
        "peak_rss_mb": run.peak_rss_mb,
        "baseline_seconds": base_s,
        "ratio": base_s / run.seconds,
        "spool_ready_s": generated,
    }


def _rows(n: int) -> list[dict[str, Any]]:
    """n op rows of the night's shape for the plain-SQLite baseline (made by one writer per 500)."""
    city = lattice.cells(64)
    rows: list[dict[str, Any]] = []
    public = crypto.public_raw(crypto.new_encryption_key())
    index = 0
    while len(rows) < n:
        rows.extend(fleet.Writer(fleet.member(index, city, seed=99), public).ops(min(500, n - len(rows))))
        index += 1
    return rows
