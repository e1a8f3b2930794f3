"""The server's memory is bounded by its settings, not by how many requests arrive at once: store work
runs on `api_threads` threads, each with one SQLite connection whose page cache is
`sqlite_cache_kib` (mmap off), so 64 concurrent Open311 queries open no more than `api_threads + 1`
connections (the event loop's own, from opening the store, is the one more).

The app is served by uvicorn in this process (a thread with its own event loop), so the test can
count the store's connections; `test_hostile_load.py` measures the whole process's RSS.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from bench import fleet
from shared import crypto
from sync_server.api.app import create_app
from sync_server.city import CityCache
from sync_server.config import load_config
from sync_server.keys import load_keys
from sync_server.reconcile import Reconciler
from sync_server.store import open_store
from tests.faults.processes import free_port

SEED = 89
CONCURRENT = 64


def _seeded(data_dir: Path) -> None:
    city, members = fleet.fleet(10, seed=SEED, grid_count=64)
    keys = fleet.build_server(data_dir, city, members)
    store = open_store(data_dir)
    try:
        reconciler = Reconciler(
            store, load_config(data_dir), load_keys(data_dir, fleet.PASSPHRASE), CityCache(store)
        )
        public = crypto.public_raw(keys.encryption)
        for m in members:
            for blob in fleet.Writer(m, public, seed=SEED).segments(300, 300, creates_only=True):
                assert reconciler.apply_segment(blob, fleet.NOW, fleet.NOW)["status"] == "applied"
    finally:
        store.close()


def test_concurrent_queries_open_no_more_connections_than_the_api_threads(tmp_path: Path) -> None:
    _seeded(tmp_path / "server")
    app = create_app(load_config(tmp_path / "server"), passphrase=fleet.PASSPHRASE)  # as `serve` opens it
    services = app.state.services
    config = services.config
    port = free_port()
    serving = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=serving.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not serving.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)

        async def storm() -> list[int]:
            limits = httpx.Limits(max_connections=CONCURRENT)
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", timeout=60, limits=limits
            ) as client:
                answers = await asyncio.gather(
                    *(
                        client.get("/open311/v2/requests.json", params={"page": 1 + i % 3})
                        for i in range(CONCURRENT)
                    )
                )
            return [a.status_code for a in answers]

        assert asyncio.run(storm()) == [200] * CONCURRENT
        assert services.store.connections() <= config.api_threads + 1
        assert services.store.cache_kib == config.sqlite_cache_kib
    finally:
        serving.should_exit = True
        thread.join(timeout=30)
