"""Servers as real processes for the bench: `gridsync-server serve`, and the plain baseline
(`bench.baseline_server`), each on a free 127.0.0.1 port; their CPU time read from /proc."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench import fleet

#: what the bench switches off in its servers' config: every push and enrolment comes from one
#: address (127.0.0.1) here, where a city's phones come from thousands
NO_ADDRESS_LIMITS = {
    "enroll_per_address_per_min": 0,
    "push_per_address_per_min": 0,
    "push_per_device_per_min": 0,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_up(
    url: str,
    proc: subprocess.Popen[bytes],
    path: str = "/health",
    timeout: float = 60,
    log: Path | None = None,
) -> None:
    """Wait until `url + path` answers 200; RuntimeError if `proc` exits first (with the last lines
    of `log`, where it writes) or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            said = (
                ""
                if log is None
                else ": " + " | ".join(log.read_text("utf-8", "replace").strip().splitlines()[-5:])
            )
            raise RuntimeError(f"server exited with {proc.returncode}{said}")
        with contextlib.suppress(httpx.HTTPError):  # not listening yet: try again
            if httpx.get(url + path, timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def serve(data_dir: Path, workers: int = 1) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`python -m sync_server.cli serve` over `data_dir`; yields its URL and process."""
    port = free_port()
    env = {**os.environ, "GRIDSYNC_PASSPHRASE": fleet.PASSPHRASE}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync_server.cli", "--data-dir", str(data_dir), "serve", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_up(url, proc)
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(timeout=60)


@contextmanager
def baseline(db: Path | str, workers: int = 1) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The plain baseline (`bench.baseline_server`) under uvicorn with `workers` processes, appending
    to `db`: a SQLite file, or a PostgreSQL URL."""
    port = free_port()
    env = {**os.environ, "BENCH_BASELINE_DB": str(db)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.baseline_server:app", "--host", "127.0.0.1", "--port",
         str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_up(url, proc, "/health")
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and of all its live descendants (`serve --workers N` forks)."""
    ticks = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except OSError:
            pass
        todo += children.get(p, [])
    return total


def db_bytes(db: Path) -> dict[str, int]:
    """The database file and its WAL, as they are on disk."""
    wal = db.with_name(db.name + "-wal")
    return {"db": db.stat().st_size, "wal": wal.stat().st_size if wal.exists() else 0}


def checkpointed_bytes(db: Path) -> int:
    """The database file after a truncating WAL checkpoint (no other connection open)."""
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return db.stat().st_size


def compacted_bytes(db: Path) -> int:
    """The size of a compacted copy of the database (`VACUUM INTO` a scratch file beside it, then
    removed): every page full, no free pages. The live file is not changed."""
    import sqlite3

    copy = db.with_name(db.name + ".compacted")
    copy.unlink(missing_ok=True)
    conn = sqlite3.connect(db)
    try:
        conn.execute("VACUUM INTO ?", (str(copy),))
    finally:
        conn.close()
    try:
        return copy.stat().st_size
    finally:
        copy.unlink()


def bytes_by_table(db: Path) -> dict[str, int]:
    """Bytes of pages each table and index holds (SQLite's `dbstat`), largest first."""
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
    finally:
        conn.close()
    return {str(name): int(size) for name, size in rows}
