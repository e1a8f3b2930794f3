"""`serve --workers 2`, real uvicorn processes: /metrics adds up every worker's counters, so a scrape
answered by either worker sees every request, and no counter ever goes backwards."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.faults.processes import ROOT, free_port
from tests.server.conftest import PASSPHRASE, make_data_dir

REQUESTS = 120
SCRAPE_EVERY = 6


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[str]:
    with serving(tmp_path) as url:
        yield url


@contextmanager
def serving(tmp_path: Path, **config: object) -> Iterator[str]:
    """`gridsync-server serve --workers 2` over a fresh data directory; its URL."""
    data = make_data_dir(tmp_path / "data", **config)
    port = free_port()
    env = {**os.environ, "GRIDSYNC_PASSPHRASE": PASSPHRASE, "PYTHONPATH": str(ROOT)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with open(tmp_path / "serve.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "sync_server.cli", "--data-dir", str(data), "serve", "--host", "127.0.0.1",
             "--port", str(port), "--workers", "2"],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "the server did not start"
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def scrape(url: str) -> tuple[dict[tuple[str, tuple[tuple[str, str], ...]], float], set[str]]:
    """Every counter sample by (name, labels), and the pids whose process gauges showed."""
    # A new connection each time, so the kernel may hand it to either worker.
    text = httpx.get(f"{url}/metrics", headers={"Connection": "close"}, timeout=10).text
    counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    pids: set[str] = set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if family.type == "counter" or (family.type == "histogram" and sample.name.endswith("_count")):
                counters[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
            if sample.name == "gridsync_process_resident_memory_bytes":
                pids.add(sample.labels["pid"])
    return counters, pids


@pytest.mark.slow
def test_counters_add_up_across_two_workers_and_never_go_backwards(two_workers: str) -> None:
    url = two_workers
    health = ("gridsync_requests_total", (("method", "GET"), ("route", "/health"), ("status", "2xx")))
    unsigned = ("gridsync_auth_refusals_total", (("code", "request.unsigned"),))
    before, _ = scrape(url)
    start_health = before.get(health, 0.0)
    previous = before
    scrapes = 0
    seen_pids: set[str] = set()
    for i in range(1, REQUESTS + 1):
        assert httpx.get(f"{url}/health", headers={"Connection": "close"}, timeout=10).status_code == 200
        assert (
            httpx.get(f"{url}/v1/conflicts", headers={"Connection": "close"}, timeout=10).status_code == 401
        )
        if i % SCRAPE_EVERY == 0:
            now, pids = scrape(url)
            scrapes += 1
            seen_pids |= pids
            went_back = {
                key: (previous[key], value) for key, value in now.items() if value < previous.get(key, 0)
            }
            assert not went_back, went_back
            assert now[health] - start_health == i, (now[health], start_health, i)
            assert now[unsigned] - before.get(unsigned, 0.0) == i
            previous = now
    assert scrapes == REQUESTS // SCRAPE_EVERY
    assert len(seen_pids) == 2, seen_pids  # both workers answered and both were counted


@pytest.mark.slow
def test_metrics_can_be_served_on_their_own_address_only(tmp_path: Path) -> None:
    metrics_port = free_port()
    with serving(tmp_path, metrics_listen=f"127.0.0.1:{metrics_port}") as url:
        served_apart(url, f"http://127.0.0.1:{metrics_port}")


def served_apart(url: str, apart: str) -> None:
    for _ in range(10):
        assert httpx.get(f"{url}/health", headers={"Connection": "close"}, timeout=10).status_code == 200
    refused = httpx.get(f"{url}/metrics", timeout=10)
    assert (refused.status_code, refused.json()["error"]["code"]) == (404, "request.not_found")
    counters, _ = scrape(apart)
    health = ("gridsync_requests_total", (("method", "GET"), ("route", "/health"), ("status", "2xx")))
    assert counters[health] >= 10
    text = httpx.get(f"{apart}/metrics", timeout=10).text
    assert 'gridsync_devices{state="enrolled"}' in text and "gridsync_build_info{" in text
