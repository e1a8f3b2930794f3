"""gridsync's metrics, on `prometheus_client`, for `GET /metrics`.

One process (`serve`, tests): each metric lives in this process's registry. Several processes
(`serve --workers N`, and an `ingest` run beside it): `serve` makes a fresh folder `<data>/metrics`
at start and names it in `PROMETHEUS_MULTIPROC_DIR`; every process that creates `GridsyncMetrics`
with that set writes its values to its own files there (prometheus_client's multiprocess mode), and a
scrape, in whichever worker answers it, adds up every process's files. So counters count every
request whichever worker took it, and never go backwards between scrapes (until `serve` restarts and
clears the folder: Prometheus reads that as a counter reset, as it should).

What the store knows (backlog, quarantine, open conflicts, overdue cases, devices, database size) is
read at scrape time (`store_gauges`), never kept in a process. Label values come from small fixed
sets (a route *template*, never a raw path; an outcome or refusal code, never an id), or the series
multiply without bound.
"""

from __future__ import annotations

import os
import platform
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from sync_server import __version__

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # what `generate_latest` writes, and every Prometheus reads
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_DIR = "metrics"  # under the data directory

#: Seconds. Small requests take milliseconds; a night's backlog segment may take tens of seconds.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def prepare_shared_dir(data_dir: Path) -> Path:
    """For `serve`: a fresh `<data>/metrics` (last run's files removed), named in the environment
    so that the worker processes this one starts write their values there."""
    folder = data_dir / METRICS_DIR
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(folder)
    return folder


def serve_apart(listen: str, shared_dir: Path, store: Any) -> None:
    """For `serve` with `metrics_listen`: /metrics on its own address (a thread of the supervising
    process), from the shared folder and the store, so the API's address need not expose it."""
    host, _, port = listen.rpartition(":")
    registry = CollectorRegistry(auto_describe=True)
    MultiProcessCollector(registry, path=str(shared_dir))  # type: ignore[no-untyped-call]
    registry.register(_StoreReader(store))
    prometheus_client.start_http_server(int(port), addr=host or "127.0.0.1", registry=registry)


class _StoreReader(Collector):
    def __init__(self, store: Any) -> None:
        self.store = store

    def collect(self) -> Iterable[Metric]:
        gauges = store_gauges(self.store)
        return [*_build_info(gauges), *_store_families(gauges)]


def join_shared_dir(data_dir: Path) -> None:
    """For `ingest`: count into a running `serve`'s folder when there is one, so its work shows in
    the server's `/metrics`."""
    folder = data_dir / METRICS_DIR
    if folder.is_dir() and MULTIPROC_ENV not in os.environ:
        os.environ[MULTIPROC_ENV] = str(folder)


class _Family:
    """One prometheus_client metric, labelled by keyword: `inc(route=...)` instead of `.labels(...)`."""

    def __init__(self, metric: Any, labelnames: Sequence[str]) -> None:
        self.metric = metric
        self.labelnames = tuple(labelnames)

    def _child(self, labels: Mapping[str, str]) -> Any:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.metric._name} takes labels {self.labelnames}, got {sorted(labels)}")
        return self.metric.labels(**labels) if self.labelnames else self.metric

    def value(self, **labels: str) -> float:
        """This process's value of one series (0 before first use)."""
        self._child(labels)
        for family in self.metric.collect():
            for sample in family.samples:
                if sample.labels == labels and not sample.name.endswith(("_created", "_bucket")):
                    return float(sample.value)
        return 0.0


class CounterFamily(_Family):
    def inc(self, amount: float = 1.0, **labels: str) -> None:
        self._child(labels).inc(amount)


class GaugeFamily(_Family):
    def set(self, value: float, **labels: str) -> None:
        self._child(labels).set(value)


class HistogramFamily(_Family):
    def observe(self, value: float, **labels: str) -> None:
        self._child(labels).observe(value)


@dataclass(frozen=True, slots=True)
class GridsyncMetrics:
    registry: CollectorRegistry  # this process's own metrics (one-process mode)
    shared_dir: str | None  # multiprocess mode: the folder every process writes to
    segments: CounterFamily  # status: the segment's outcome ("applied", "duplicate", an error code)
    ops: CounterFamily  # outcome: each op's outcome from reconcile
    request_seconds: HistogramFamily  # route: the route template, e.g. "/v1/segments"
    requests: CounterFamily  # route, method, status ("2xx" … "5xx")
    auth_refusals: CounterFamily  # code: request.unsigned, request.bad_signature, device.revoked, …
    photo_uploads: CounterFamily  # outcome: "partial", "complete", or the refusal's code
    photos_bytes: CounterFamily
    ingest_runs: CounterFamily
    ingest_files: CounterFamily
    ingest_ops: CounterFamily  # outcome
    ingest_rejects: CounterFamily  # segments refused by an ingest run
    ingest_seconds: CounterFamily
    sweep_runs: CounterFamily  # outcome: "done", "skipped" (store busy), "failed"
    process_memory: GaugeFamily  # multiprocess mode labels each process's series with its pid
    process_cpu: GaugeFamily

    def note_process(self) -> None:
        """This process's memory and CPU time, for the scrape (every process calls it now and then)."""
        self.process_memory.set(_resident_bytes())
        self.process_cpu.set(time.process_time())

    def process_ended(self) -> None:
        """A worker stopping: its per-process gauges leave the scrape (its counters stay counted)."""
        if self.shared_dir:
            mark_process_dead(os.getpid(), self.shared_dir)  # type: ignore[no-untyped-call]

    def render(self, store: Mapping[str, Any] | None = None) -> bytes:
        """The exposition text: every process's counters (multiprocess mode) or this one's, the
        store's gauges as read for this scrape, and build info."""
        registry = CollectorRegistry(auto_describe=True)
        if self.shared_dir:
            MultiProcessCollector(registry, path=self.shared_dir)  # type: ignore[no-untyped-call]
        else:
            registry.register(_Forward(self.registry))
        registry.register(_Fixed(_build_info(store or {}), _store_families(store or {})))
        self.note_process()
        return generate_latest(registry)


class _Forward(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        return self.registry.collect()


class _Fixed(Collector):
    def __init__(self, *families: Iterable[Metric]) -> None:
        self.families = [m for group in families for m in group]

    def collect(self) -> Iterable[Metric]:
        return self.families


def _build_info(store: Mapping[str, Any]) -> list[Metric]:
    info = GaugeMetricFamily(
        "gridsync_build_info", "The running server: version, Python, store kind (value 1).",
        labels=["version", "python", "store"],
    )  # fmt: skip
    info.add_metric([__version__, platform.python_version(), str(store.get("kind", ""))], 1.0)
    return [info]


#: name: help, for what `store_gauges` reads at each scrape
STORE_GAUGES = {
    "backlog_segments": "Segments held after a gap, waiting for it to fill.",
    "quarantined_segments": "Segments refused as a conflict or fork and kept for review.",
    "open_conflict_cases": "Cases with a hard conflict waiting for a supervisor.",
    "overdue_cases": "Open cases past their deadline in working time.",
    "database_bytes": "Size of the store's database.",
}


def _store_families(store: Mapping[str, Any]) -> list[Metric]:
    out: list[Metric] = []
    for name, description in STORE_GAUGES.items():
        if name in store:
            out.append(GaugeMetricFamily(f"gridsync_{name}", description, value=float(store[name])))
    if "devices" in store:
        devices = GaugeMetricFamily("gridsync_devices", "Devices by state.", labels=["state"])
        for state, count in sorted(store["devices"].items()):
            devices.add_metric([state], float(count))
        out.append(devices)
    return out


def store_gauges(store: Any) -> dict[str, Any]:
    """What an operator alerts on, read from the store now (run it off the event loop)."""
    devices = store.devices()
    revoked = sum(1 for d in devices if d.revoked_at is not None)
    return {
        "kind": store.kind,
        "backlog_segments": store.backlog_size(),
        "quarantined_segments": len(store.quarantined()),
        "open_conflict_cases": store.open_conflict_count(),
        "overdue_cases": store.overdue_count(),
        "database_bytes": store.size_bytes(),
        "devices": {"enrolled": len(devices) - revoked, "revoked": revoked},
    }


def _resident_bytes() -> float:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return float(int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, IndexError):
        return 0.0


def gridsync_metrics() -> GridsyncMetrics:
    """gridsync's metrics: in this process's own registry, or (with `PROMETHEUS_MULTIPROC_DIR` set)
    written to the shared folder. One per server (and per test); no global registry is used."""
    shared = os.environ.get(MULTIPROC_ENV) or None
    # prometheus_client picks its value store when imported; pick it again here, so the mode follows
    # the environment as this process found it when the server was built.
    values.ValueClass = values.MultiProcessValue() if shared else values.MutexValue  # type: ignore[no-untyped-call]
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
    registry = CollectorRegistry(auto_describe=True)
    target = None if shared else registry

    def counter(name: str, description: str, labels: Sequence[str] = ()) -> CounterFamily:
        return CounterFamily(Counter(name, description, labels, registry=target), labels)

    def process_gauge(name: str, description: str) -> GaugeFamily:
        return GaugeFamily(Gauge(name, description, registry=target, multiprocess_mode="liveall"), ())

    request_seconds = Histogram(
        "gridsync_request_seconds", "Time to answer an HTTP request, by route.", ["route"],
        buckets=REQUEST_BUCKETS, registry=target,
    )  # fmt: skip
    return GridsyncMetrics(
        registry=registry,
        shared_dir=shared,
        segments=counter("gridsync_segments", "Segments received, by outcome.", ["status"]),
        ops=counter("gridsync_ops", "Operations reconciled, by outcome.", ["outcome"]),
        request_seconds=HistogramFamily(request_seconds, ["route"]),
        requests=counter(
            "gridsync_requests",
            "HTTP requests answered, by route, method and status class.",
            ["route", "method", "status"],
        ),
        auth_refusals=counter(
            "gridsync_auth_refusals", "Requests refused by the signature check, by code.", ["code"]
        ),
        photo_uploads=counter("gridsync_photo_uploads", "Photo chunks received, by outcome.", ["outcome"]),
        photos_bytes=counter("gridsync_photos_bytes", "Photo bytes received."),
        ingest_runs=counter("gridsync_ingest_runs", "Spool ingest runs finished."),
        ingest_files=counter("gridsync_ingest_files", "Spool files read by ingest runs."),
        ingest_ops=counter(
            "gridsync_ingest_ops", "Operations applied by ingest runs, by outcome.", ["outcome"]
        ),
        ingest_rejects=counter("gridsync_ingest_rejects", "Segments ingest runs refused."),
        ingest_seconds=counter("gridsync_ingest_seconds", "Seconds spent in ingest runs."),
        sweep_runs=counter("gridsync_sweep_runs", "Backlog and overdue sweeps, by outcome.", ["outcome"]),
        process_memory=process_gauge(
            "gridsync_process_resident_memory_bytes", "Resident memory, by process."
        ),
        process_cpu=process_gauge("gridsync_process_cpu_seconds", "CPU time used, by process."),
    )
