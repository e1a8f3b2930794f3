"""The store's per-thread connections live as long as their threads: the API's worker threads come
and go (anyio retires one idle for 10 s), and a server runs for months."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from sync_server.store.sqlite import SqliteStore


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="counts file descriptors through /proc (Linux)"
)
def test_a_finished_threads_connection_is_closed_with_it(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "gridsync.db")
    try:
        assert store.connections() == 1  # this thread's, opened to migrate
        fds = _open_fds()
        for _ in range(40):
            worker = threading.Thread(target=store.change_seq)
            worker.start()
            worker.join()
        assert store.connections() == 1
        assert _open_fds() <= fds + 2  # not one descriptor kept per finished thread
    finally:
        store.close()
    assert store.connections() == 0


def test_connections_of_live_threads_stay_open_and_close_with_the_store(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "gridsync.db")
    started, release = threading.Barrier(4), threading.Event()

    def hold() -> None:
        store.change_seq()
        started.wait()
        release.wait()
        store.change_seq()  # the same connection, still open

    workers = [threading.Thread(target=hold) for _ in range(3)]
    for worker in workers:
        worker.start()
    started.wait()
    assert store.connections() == 4
    release.set()
    for worker in workers:
        worker.join()
    assert store.connections() == 1
    store.close()
    assert store.connections() == 0
