"""Child processes die with their parent, and a stopped parent stops its children.

`serve --workers N` (uvicorn's worker processes) and `ingest` (its unsealer processes) start
children. A parent killed with SIGKILL runs no cleanup, so without a tie its children live on,
adopted by PID 1: serve's workers kept the listening socket (the next start failed with "Address
already in use") and the ingest's helpers idled for good.

A child calls `die_with_parent()` first thing. Two ties, because each alone has a gap:

- Linux `PR_SET_PDEATHSIG` (prctl through ctypes): the kernel sends the child SIGTERM the moment
  its parent dies, SIGKILL included. It fires when the *thread* that started the child ends; both
  parents start their children from their main thread.
- a parent watch: a daemon thread compares `os.getppid()` with the parent the child was started by,
  every `poll_s`. It covers systems without prctl and a parent that died before the tie was made.

SIGTERM lets the child stop cleanly (uvicorn finishes its shutdown); a child still alive `grace_s`
after its parent is gone exits at once (`os._exit`), so nothing outlives its parent by more than
about `grace_s + poll_s` seconds.

The parent's side: `serve` is uvicorn's supervisor, which stops its workers on SIGTERM and SIGINT.
`ingest` runs under `stop_on_sigterm()`: SIGTERM becomes `SystemExit`, so its `finally` blocks stop
the helpers and close the store, as Ctrl-C does.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
EXIT_ORPHANED = 70  # a child that had to be cut off after its parent died


def started_by() -> int:
    """The pid of the process that started this one: multiprocessing's parent for a spawned child
    (exact even if the parent is already gone), else the current parent."""
    parent = multiprocessing.parent_process()
    return parent.pid if parent is not None and parent.pid else os.getppid()


def die_with_parent(parent: int | None = None, *, grace_s: float = 3.0, poll_s: float = 0.2) -> bool:
    """Tie this process to `parent` (default `started_by()`). Returns whether the kernel tie
    (`PR_SET_PDEATHSIG`) was made; the watch thread runs either way. If the parent is already
    gone, the process exits here."""
    expected = parent or started_by()
    kernel = _set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != expected:  # the parent died before the tie was made
        os._exit(EXIT_ORPHANED)
    watch = threading.Thread(
        target=_watch, args=(expected, grace_s, poll_s), name="parent-watch", daemon=True
    )
    watch.start()
    return kernel


def _set_parent_death_signal(sig: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int, grace_s: float, poll_s: float) -> None:
    while os.getppid() == parent:
        time.sleep(poll_s)
    os.kill(os.getpid(), signal.SIGTERM)  # a clean stop first (the kernel may have sent one already)
    time.sleep(grace_s)
    os._exit(EXIT_ORPHANED)


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Inside, SIGTERM raises `SystemExit(128 + SIGTERM)` in the main thread, so `finally` blocks
    and context managers run (child processes stopped, the store closed) instead of the process
    vanishing with its children still running. The previous handler comes back on leaving."""

    def stop(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
