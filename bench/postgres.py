"""PostgreSQL rows (issue 12 section 5): reconcile with 1 and 2 processes, the night's backlog through
`ingest`, online push through 1 and 2 `serve` processes — each over one PostgreSQL, each as a ratio to
a baseline in the same run: the same op rows `COPY`ed into a plain table of the same database. And
issue 13's open loop (`bench.openloop`) against `serve` and `serve --workers 2` on PostgreSQL, beside
the same arrivals POSTed as plain JSON to the baseline endpoint appending to a plain table of the same
database with as many processes.

The bench creates its own database (`gridsync_bench_<pid>_<hex>`, with PostGIS) on the server named
by `GRIDSYNC_BENCH_PG` (default `postgresql://postgres@127.0.0.1:5432/test`, the test server) and
drops it afterwards. Each store starts as a SQLite store copied in with `migrate-store`'s
`copy_store` (the city and enrolled fleet), so only the measured work runs on PostgreSQL.

CPU is reported per op, separately for the server processes (the reconciling processes, `ingest`,
or `serve`: user + system from /proc, children included) and for PostgreSQL: the backends serving
this database, found in `pg_stat_activity` and sampled from /proc/<pid>/stat every 50 ms (a backend
that ends between samples loses at most its last 50 ms; the pools here keep theirs for the run). The
server's shared background processes (WAL writer, checkpointer, background writer, autovacuum) serve
every database on it and are not counted; autovacuum workers on this database are. This needs
PostgreSQL on this machine (its /proc), as in the tests.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import resource
import secrets
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

from bench import backlog, fleet, openloop, push, serving, throughput
from bench.measure import percentile, run_child, workdir
from shared import crypto
from shared.envelope import read_header
from sync_server.city import CityCache
from sync_server.config import load_config, save_config
from sync_server.keys import load_keys
from sync_server.reconcile import Reconciler
from sync_server.store import open_store
from sync_server.store.postgres.copy import copy_store

SERVER = os.environ.get("GRIDSYNC_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
TICKS = os.sysconf("SC_CLK_TCK")


def _url(name: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(SERVER)
    return f"postgresql://{info.get('user', 'postgres')}@{info.get('host', '127.0.0.1')}:{info.get('port', 5432)}/{name}"


@contextmanager
def database() -> Iterator[str]:
    """A new database with PostGIS (its URL), dropped afterwards."""
    name = f"gridsync_bench_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(SERVER, autocommit=True, connect_timeout=5) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with psycopg.connect(_url(name), autocommit=True) as db:
            db.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        yield _url(name)
    finally:
        with psycopg.connect(SERVER, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _proc_cpu(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


class BackendCpu:
    """CPU seconds of the PostgreSQL backends serving one database, sampled while running."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _sample(self, db: psycopg.Connection[Any], own: int) -> None:
        rows = db.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> %s", (own,)
        ).fetchall()
        for (pid,) in rows:
            cpu = _proc_cpu(pid)
            if cpu is not None:
                self.first.setdefault(pid, 0.0)  # born during the run: a forked backend starts at 0
                self.last[pid] = cpu

    def _poll(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as db:
            own = db.info.backend_pid
            while not self._stop.is_set():
                self._sample(db, own)
                self._stop.wait(0.05)
            self._sample(db, own)

    def __enter__(self) -> BackendCpu:
        with psycopg.connect(self.url, autocommit=True) as db:  # the backends alive at the start
            for (pid,) in db.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall():
                cpu = _proc_cpu(pid)
                if cpu is not None:
                    self.first[pid] = self.last[pid] = cpu
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def seconds(self) -> float:
        return sum(self.last[pid] - self.first.get(pid, 0.0) for pid in self.last)


def baseline(ops: list[dict[str, Any]], url: str) -> float:
    """Seconds for PostgreSQL to take the same op rows with one COPY into a plain table with the same
    key, in one transaction (best of three)."""
    rows = [
        (o["device_id"], o["seq"], o["op_id"], o["actor"], o["case_id"], o["base_version"], o["captured_at"],
         o["kind"], json.dumps(o["payload"], ensure_ascii=False, separators=(",", ":")))
        for o in ops
    ]  # fmt: skip
    best = float("inf")
    with psycopg.connect(url, autocommit=True) as db:
        for _ in range(3):
            db.execute("DROP TABLE IF EXISTS public.bench_ops")
            db.execute(
                throughput._BASELINE_TABLE.replace("CREATE TABLE ops", "CREATE TABLE public.bench_ops")
            )
            start = time.perf_counter()
            with db.transaction(), db.cursor().copy("COPY public.bench_ops FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            best = min(best, time.perf_counter() - start)
        db.execute("DROP TABLE public.bench_ops")
    return best


def _onto_postgresql(data_dir: Path, url: str, **config: Any) -> None:
    """Copy the data directory's SQLite store into `url` and make the directory use it."""
    copy_store(data_dir / "gridsync.db", url)
    save_config(replace(load_config(data_dir), database_url=url, **config))
    (data_dir / "gridsync.db").unlink()


def _figures(ops: int, seconds: float, server_cpu: float, pg_cpu: float, base_s: float) -> dict[str, Any]:
    return {
        "ops": ops,
        "seconds": seconds,
        "ops_per_s": ops / seconds,
        "server_cpu_us_per_op": server_cpu / ops * 1e6,
        "pg_cpu_us_per_op": pg_cpu / ops * 1e6,
        "baseline_seconds": base_s,
        "baseline_ops_per_s": ops / base_s,
        "ratio": base_s / seconds,
    }


# --- reconcile, 1 and 2 processes ------------------------------------------------------------------


def _reconcile_part(data_dir: Path, blobs: list[bytes], ready: Any, go: Any, out: Any) -> None:
    store = open_store(data_dir)
    reconciler = Reconciler(
        store, load_config(data_dir), load_keys(data_dir, fleet.PASSPHRASE), CityCache(store)
    )
    reconciler.cities.get()  # the city loads once per process, before the clock starts
    ready.put(os.getpid())
    go.wait()
    cpu = time.process_time()
    statuses = [reconciler.apply_segment(blob, fleet.NOW, fleet.NOW)["status"] for blob in blobs]
    out.put((time.process_time() - cpu, statuses.count("applied"), len(statuses)))
    store.close()


def reconcile(total_ops: int, processes: int, devices: int = throughput.DEVICES) -> dict[str, Any]:
    """The night's segments applied by `processes` reconciling processes over one PostgreSQL; each
    process takes the segments of its own devices (as machines behind a balancer keyed by device)."""
    with workdir("pg-reconcile") as work, database() as url:
        _, blobs, ops = throughput.night(total_ops, devices, work / "server")
        _onto_postgresql(work / "server", url)
        base_s = baseline(ops, url)
        limits = load_config(work / "server").limits
        shares: list[list[bytes]] = [[] for _ in range(processes)]
        owner: dict[str, int] = {}
        for blob in blobs:  # each device's segments stay in one process, in order
            device = read_header(blob, limits).device_id
            shares[owner.setdefault(device, len(owner) % processes)].append(blob)
        ctx = multiprocessing.get_context("fork")
        ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
        children = [ctx.Process(target=_reconcile_part, args=(work / "server", share, ready, go, out))
                    for share in shares]  # fmt: skip
        for child in children:
            child.start()
        for _ in children:
            ready.get(timeout=300)
        with BackendCpu(url) as pg:
            start = time.perf_counter()
            go.set()
            results = [out.get(timeout=1800) for _ in children]
            seconds = time.perf_counter() - start
        for child in children:
            child.join(timeout=60)
    applied = sum(r[1] for r in results)
    if applied != len(blobs):
        raise RuntimeError(f"reconcile on PostgreSQL applied {applied} of {len(blobs)} segments")
    return {"processes": processes, "devices": devices, "segments": len(blobs),
            **_figures(len(ops), seconds, sum(r[0] for r in results), pg.seconds, base_s)}  # fmt: skip


# --- the night's backlog through ingest ------------------------------------------------------------


def ingest(ops: int, devices: int) -> dict[str, Any]:
    key = backlog.night(ops, devices)
    with workdir("pg-backlog") as work, database() as url:
        data_dir = work / "server"
        shutil.copytree(key / "template", data_dir)
        _onto_postgresql(data_dir, url)
        spool = work / "spool"
        spool.mkdir()
        for f in sorted((key / "spool").iterdir()):
            os.link(f, spool / f.name)
        env = {**os.environ, "GRIDSYNC_PASSPHRASE": fleet.PASSPHRASE}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with BackendCpu(url) as pg:
            run = run_child([sys.executable, "-m", "sync_server.cli", "--data-dir", str(data_dir), "ingest",
                             str(spool), "--quiet"], env=env)  # fmt: skip
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the ingest, reaped: its CPU and its children's
        ingest_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        if run.returncode != 0:
            raise RuntimeError(f"ingest on PostgreSQL failed ({run.returncode}): {run.stderr[-2000:]}")
        with psycopg.connect(url) as db:
            (applied,) = db.execute("SELECT count(*) FROM gridsync.op_log").fetchone()  # type: ignore[misc]
        base_s = baseline(backlog._rows(ops), url)
    if applied != ops // devices * devices:
        raise RuntimeError(f"ingest on PostgreSQL applied {applied} of {ops} ops")
    return {"devices": devices, "peak_rss_mb": run.peak_rss_mb,
            **_figures(int(applied), run.seconds, ingest_cpu, pg.seconds, base_s)}  # fmt: skip


# --- online push through 1 and 2 serve processes ---------------------------------------------------


async def _push_all(urls: list[str], members: list[fleet.Member], streams: dict[str, list[bytes]]
                    ) -> tuple[float, list[float]]:  # fmt: skip
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=len(members), max_keepalive_connections=len(members))
    clients = [httpx.AsyncClient(base_url=u, timeout=120, limits=limits) for u in urls]
    try:
        start = time.perf_counter()
        await asyncio.gather(*(push._device(clients[i % len(clients)], m, streams[m.device_id], latencies)
                               for i, m in enumerate(members)))  # fmt: skip
        return time.perf_counter() - start, latencies
    finally:
        for client in clients:
            await client.aclose()


def online(devices: int, segments_each: int, processes: int) -> dict[str, Any]:
    """`processes` separate `serve` processes (one worker each, own ports, as separate machines);
    each device pushes to one of them."""
    with workdir("pg-push") as work, database() as url:
        city, members = fleet.fleet(devices, seed=11)
        keys = fleet.build_server(work / "server", city, members)
        _onto_postgresql(work / "server", url, **serving.NO_ADDRESS_LIMITS)
        public = crypto.public_raw(keys.encryption)
        streams = {m.device_id: fleet.Writer(m, public, seed=11).segments(push.OPS * segments_each, push.OPS)
                   for m in members}  # fmt: skip
        ops = [op for m in members for op in _opened_rows(streams[m.device_id], m, public)]
        with ExitStack() as stack:
            servers = [stack.enter_context(serving.serve(work / "server")) for _ in range(processes)]
            cpu0 = sum(serving.cpu_seconds(proc.pid) for _, proc in servers)
            with BackendCpu(url) as pg:
                seconds, latencies = asyncio.run(_push_all([u for u, _ in servers], members, streams))
            server_cpu = sum(serving.cpu_seconds(proc.pid) for _, proc in servers) - cpu0
        base_s = baseline(ops, url)
    total = devices * segments_each
    return {"devices": devices, "processes": processes, "segments": total,
            "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
            **_figures(total * push.OPS, seconds, server_cpu, pg.seconds, base_s)}  # fmt: skip


def _opened_rows(blobs: list[bytes], m: fleet.Member, public: bytes) -> list[dict[str, Any]]:
    """The op rows the baseline copies: the same count and shape as the pushed segments' ops (made
    by a writer with the same seed, so the same documents)."""
    writer = fleet.Writer(m, public, seed=11)
    return writer.ops(push.OPS * len(blobs))


# --- issue 13's open loop, 1 and 2 serve processes ---------------------------------------------------


def open_loop() -> dict[str, Any]:
    """`bench.openloop`'s ladder and its baseline, over a new database for each process count: the
    ladder's fleet copied in from SQLite; the baseline's table in the same database."""
    with workdir("pg-openloop") as work:
        pristine, members, public = openloop.prepare(work)
        runs = []
        for workers in (1, 2):
            with database() as url:
                data = work / f"server-{workers}"
                shutil.copytree(pristine, data)
                _onto_postgresql(data, url)
                runs.append(openloop.compare(data, url, workers, members, public, work))
    return {"seconds_per_point": openloop.SECONDS, "peak_rate": openloop.PEAK, "runs": runs}


def postgres(full: bool = False) -> dict[str, Any]:
    """Every PostgreSQL row; `full`: the 1M-op night too. Without a reachable PostgreSQL, no rows and
    the reason (the bench's other figures are kept)."""
    try:
        psycopg.connect(SERVER, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        return {"unreachable": f"no PostgreSQL at {SERVER} ({exc}); set GRIDSYNC_BENCH_PG"}
    nights = [50_000, *([1_000_000] if full else [])]
    return {
        "full": full,
        "reconcile": [reconcile(20_000, p) for p in (1, 2)],
        "backlog": [ingest(n, 2000) for n in nights],
        "push": [online(200, 2, p) for p in (1, 2)],
        "openloop": open_loop(),
    }


def rows(results: dict[str, Any] | None) -> list[tuple[str, ...]]:
    """The bench table's PostgreSQL rows: (figure, size, measured, baseline, ratio, target)."""
    if not results:
        return []
    if "unreachable" in results:
        return [
            ("PG rows not measured", results["unreachable"][:120], "no figure", "no baseline either", "—", "")
        ]

    def cpu(s: dict[str, Any]) -> str:
        return f"CPU/op: server {s['server_cpu_us_per_op']:.0f} µs, PostgreSQL {s['pg_cpu_us_per_op']:.0f} µs"

    def base(s: dict[str, Any]) -> str:
        return f"{s['baseline_ops_per_s']:,.0f} ops/s plain COPY"

    found: list[tuple[str, ...]] = []
    for s in results["reconcile"]:
        found.append((f"PG 1. reconcile, {s['processes']} process{'es' if s['processes'] > 1 else ''}",
                      f"{s['ops']:,} ops / {s['devices']} devices", f"{s['ops_per_s']:,.0f} ops/s; {cpu(s)}",
                      base(s), f"{s['ratio']:.4f}", ""))  # fmt: skip
    for s in results["backlog"]:
        found.append(("PG 2. night's backlog (ingest)", f"{s['ops']:,} ops / {s['devices']:,} devices",
                      f"{s['seconds']:.1f} s, peak {s['peak_rss_mb']:.0f} MB; {cpu(s)}", base(s),
                      f"{s['ratio']:.4f}", ""))  # fmt: skip
    if not results["full"]:
        found.append(("", "PG 1M ops: set BENCH_FULL=1", "", "", "", ""))
    for s in results["push"]:
        found.append((f"PG 3. online push, {s['processes']} serve process{'es' if s['processes'] > 1 else ''}",
                      f"{s['devices']} devices × {s['segments'] // s['devices']} × 100 ops",
                      f"{s['ops_per_s']:,.0f} ops/s, p50 {s['p50_ms']:.0f} ms, p99 {s['p99_ms']:.0f} ms; {cpu(s)}",
                      base(s), f"{s['ratio']:.4f}", ""))  # fmt: skip
    found += openloop.rows(results.get("openloop"), "PG 8.", "PostgreSQL")
    return found
