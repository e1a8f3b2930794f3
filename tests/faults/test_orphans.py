"""No orphans: a parent killed with SIGKILL takes its children with it, and a parent stopped with
SIGTERM stops them cleanly. Real processes: `gridsync-server serve --workers 2` (uvicorn's workers)
and `gridsync-server ingest` (its unsealer processes), killed mid-run; then the same command is
started again, on the same port for `serve`.

A process counts as gone when /proc no longer lists it or lists it as a zombie (dead, waiting for
whoever adopted it to reap it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bench import fleet
from shared import crypto
from tests.faults.processes import ROOT, env, free_port

GONE_WITHIN_S = 5.0
FIGURES: dict[str, float] = {}  # seconds from the parent's end to its last child's (docs/reliability.md)


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return None if fields[0] == "Z" else int(fields[1])


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (children, their children, ...)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (parent := _parent_of(int(entry.name))) is not None:
            parents[int(entry.name)] = parent
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if _parent_of(pid) is not None}


def wait_gone(pids: set[int], within: float = GONE_WITHIN_S, what: str = "") -> set[int]:
    """The processes still alive after `within` seconds (empty as soon as all are gone); how long
    they took goes to FIGURES[what]."""
    started = time.monotonic()
    while (left := alive(pids)) and time.monotonic() < started + within:
        time.sleep(0.02)
    if what:
        FIGURES[what] = max(FIGURES.get(what, 0.0), time.monotonic() - started)
    return left


def _reap_leftovers(pids: set[int]) -> None:
    """A failed test must not leave its orphans serving: kill what survived (our own processes only)."""
    for pid in alive(pids):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


# --- serve --workers 2 ---------------------------------------------------------------------------------


def _init(data_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sync_server.cli", "--data-dir", str(data_dir), "init", "--demo"],
        env=env(), cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def _serve(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sync_server.cli", "--data-dir", str(data_dir), "serve", "--host", "127.0.0.1",
             "--port", str(port), "--workers", "2"],
            env=env(), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"serve exited with {proc.returncode}: {log.read_text()[-3000:]}"
        try:
            up = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
            if up and len(descendants(proc.pid)) >= 2:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"serve did not come up: {log.read_text()[-3000:]}")


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_serve_workers_die_with_their_parent_and_the_port_is_free_again(how: int, tmp_path: Path) -> None:
    data_dir = tmp_path / "server"
    _init(data_dir)
    port = free_port()
    log = tmp_path / "serve.log"
    first = _serve(data_dir, port, log)
    children = descendants(first.pid)
    try:
        first.send_signal(how)
        first.wait(timeout=30)
        left = wait_gone(children, what=f"serve --workers 2, {signal.Signals(how).name}")
        assert left == set(), f"{len(left)} worker(s) outlived the parent"
    finally:
        _reap_leftovers(children)
    second = _serve(data_dir, port, log)  # the same port: nothing holds it any more
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
    finally:
        again = descendants(second.pid)
        second.terminate()
        second.wait(timeout=30)
        assert wait_gone(again) == set()
    assert "Address already in use" not in log.read_text()


# --- ingest ----------------------------------------------------------------------------------------------


def _spool(data_dir: Path, spool: Path) -> None:
    """A night big enough that the ingest is still at work when it is killed."""
    city, members = fleet.fleet(8, seed=7, grid_count=64)
    keys = fleet.build_server(data_dir, city, members)
    public = crypto.public_raw(keys.encryption)
    spool.mkdir()
    for m in members:
        writer = fleet.Writer(m, public, seed=7)
        for _ in range(60):
            blob = writer.seal(writer.ops(50))
            first_seq = int.from_bytes(blob[38:46], "big")
            (spool / f"{m.device_id}-{first_seq:012d}.seg").write_bytes(blob)


def _ingest(data_dir: Path, spool: Path, log: Path) -> subprocess.Popen[bytes]:
    """The ingest, its output in `log` (a pipe would stay open as long as any orphan holds it)."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "sync_server.cli", "--data-dir", str(data_dir), "ingest", str(spool),
             "--quiet"],
            env=env(), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


@pytest.mark.parametrize(
    "how", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=["SIGKILL", "SIGTERM", "SIGINT"]
)
def test_ingest_helpers_die_with_the_ingest_and_it_runs_again(how: int, tmp_path: Path) -> None:
    data_dir, spool = tmp_path / "server", tmp_path / "spool"
    _spool(data_dir, spool)
    log = tmp_path / "ingest.log"
    proc = _ingest(data_dir, spool, log)
    deadline = time.monotonic() + 60
    while not descendants(proc.pid) or not (spool / "done").is_dir():  # its helpers are at work
        assert proc.poll() is None, "the ingest finished before it could be stopped: make the night bigger"
        assert time.monotonic() < deadline, "the ingest never started its helper processes"
        time.sleep(0.02)
    helpers = descendants(proc.pid)
    try:
        proc.send_signal(how)
        proc.wait(timeout=30)
        left = wait_gone(helpers, what=f"ingest, {signal.Signals(how).name}")
        assert left == set(), f"{len(left)} helper(s) outlived the ingest"
    finally:
        _reap_leftovers(helpers)
    assert proc.returncode in (-how, 128 + how), log.read_text()
    if how != signal.SIGKILL:  # a clean stop: no traceback from the ingest or its helpers
        assert "Traceback" not in log.read_text(), log.read_text()
    again = _ingest(data_dir, spool, log)
    assert again.wait(timeout=300) == 0, log.read_text()
    assert list(spool.glob("*.seg")) == []
    assert len(list((spool / "done").glob("*.seg"))) == 8 * 60


# --- the parent watch alone (systems without prctl) ---------------------------------------------------

_WATCHED_CHILD = """
import sys, time
from sync_server import lifeline
lifeline._set_parent_death_signal = lambda sig: False  # no kernel tie: only the watch thread
lifeline.die_with_parent(int(sys.argv[1]))
print("tied", flush=True)
time.sleep(60)
"""

_PARENT = """
import subprocess, sys, os, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], str(os.getpid())], stdout=sys.stdout)
print(child.pid, flush=True)
time.sleep(60)
"""


def test_without_prctl_the_parent_watch_alone_ends_an_orphan() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, _WATCHED_CHILD],
        env=env(),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    child = {int(parent.stdout.readline())}
    try:
        assert parent.stdout.readline().strip() == "tied"
        parent.kill()
        parent.wait(timeout=30)
        assert wait_gone(child, what="parent watch alone, SIGKILL") == set()
    finally:
        _reap_leftovers(child)
        parent.stdout.close()


def test_orphan_figures() -> None:
    print(f"\nseconds from a parent's end to its last child's: {FIGURES}")
