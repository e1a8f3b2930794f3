"""A small Prometheus registry: counters, gauges and fixed-bucket histograms, rendered in the text
exposition format (version 0.0.4) for `GET /metrics`. No client library: this is all gridsync needs.

Every change takes the metric's lock, so request handlers in the threadpool and the reconcile workers
may update the same metric at once. `render()` copies each metric under its lock, then formats.

Output is stable for tests and diffs: metrics in registration order, series sorted by label values,
values printed as Python floats print (`1.0`, `0.005`, `+Inf`), as the reference client does. A
metric without labels shows its zero value before first use; a labelled one shows only the series it
has seen. Label values must come from small fixed sets (a route *template*, never a raw path; an
outcome code, never an id), or the series multiply without bound.
"""

from __future__ import annotations

import math
import re
import threading
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

LabelValues = tuple[str, ...]
Sample = tuple[str, tuple[tuple[str, str], ...], float]  # name suffix, label pairs, value


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


class Metric:
    """What every metric shares: a checked name and label names, a lock, and its series by label values."""

    kind = "untyped"
    reserved_labels: frozenset[str] = frozenset()

    def __init__(self, name: str, description: str, labelnames: Sequence[str] = ()) -> None:
        if not _NAME.match(name):
            raise ValueError(f"invalid metric name {name!r}")
        for label in labelnames:
            if not _LABEL.match(label) or label.startswith("__") or label in self.reserved_labels:
                raise ValueError(f"invalid label name {label!r} for {name}")
        if len(set(labelnames)) != len(labelnames):
            raise ValueError(f"label names repeat in {name}: {labelnames!r}")
        self.name = name
        self.help = description
        self.labelnames = tuple(labelnames)
        self._lock = threading.Lock()

    def _key(self, labels: dict[str, str]) -> LabelValues:
        if labels.keys() != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {sorted(labels)}")
        return tuple(str(labels[n]) for n in self.labelnames)

    def _pairs(self, key: LabelValues) -> tuple[tuple[str, str], ...]:
        return tuple(zip(self.labelnames, key, strict=True))

    def samples(self) -> list[Sample]:
        raise NotImplementedError

    def render(self) -> Iterator[str]:
        yield f"# HELP {self.name} {_escape_help(self.help)}"
        yield f"# TYPE {self.name} {self.kind}"
        for suffix, pairs, value in self.samples():
            labels = ",".join(f'{k}="{_escape_label(v)}"' for k, v in pairs)
            selector = f"{{{labels}}}" if labels else ""
            yield f"{self.name}{suffix}{selector} {format_value(value)}"


class _Valued(Metric):
    """A metric with one number per series: counters and gauges."""

    def __init__(self, name: str, description: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, description, labelnames)
        self._values: dict[LabelValues, float] = {} if labelnames else {(): 0.0}

    def _add(self, amount: float, labels: dict[str, str]) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        key = self._key(labels)
        with self._lock:
            return self._values.get(key, 0.0)

    def samples(self) -> list[Sample]:
        with self._lock:
            values = sorted(self._values.items())
        return [("", self._pairs(key), value) for key, value in values]


class Counter(_Valued):
    kind = "counter"

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if amount < 0 or math.isnan(amount):
            raise ValueError(f"{self.name}: a counter only goes up, not by {amount!r}")
        self._add(amount, labels)


class Gauge(_Valued):
    kind = "gauge"

    def set(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        self._add(amount, labels)

    def dec(self, amount: float = 1.0, **labels: str) -> None:
        self._add(-amount, labels)


@dataclass(slots=True)
class _Series:
    counts: list[int]  # per bucket, not cumulative; the last is +Inf
    total: float = 0.0


class Histogram(Metric):
    kind = "histogram"
    reserved_labels = frozenset({"le"})

    def __init__(
        self, name: str, description: str, buckets: Sequence[float], labelnames: Sequence[str] = ()
    ) -> None:
        super().__init__(name, description, labelnames)
        bounds = [float(b) for b in buckets if not math.isinf(b)]
        if not bounds or bounds != sorted(set(bounds)) or any(math.isnan(b) for b in bounds):
            raise ValueError(f"{name}: buckets must be distinct, increasing and finite: {buckets!r}")
        self.bounds = tuple(bounds)
        self._series: dict[LabelValues, _Series] = {}
        if not labelnames:
            self._series[()] = _Series([0] * (len(bounds) + 1))

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        index = bisect_left(self.bounds, value)  # the first bucket whose bound is >= value
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _Series([0] * (len(self.bounds) + 1))
            series.counts[index] += 1
            series.total += value

    def samples(self) -> list[Sample]:
        with self._lock:
            copied = sorted((key, list(s.counts), s.total) for key, s in self._series.items())
        out: list[Sample] = []
        for key, counts, total in copied:
            pairs = self._pairs(key)
            running = 0
            for bound, count in zip((*self.bounds, math.inf), counts, strict=True):
                running += count
                out.append(("_bucket", (*pairs, ("le", format_value(bound))), float(running)))
            out.append(("_sum", pairs, total))
            out.append(("_count", pairs, float(running)))
        return out


M = TypeVar("M", bound=Metric)


class Registry:
    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}
        self._lock = threading.Lock()

    def register(self, metric: M) -> M:
        with self._lock:
            if metric.name in self._metrics:
                raise ValueError(f"metric {metric.name} is already registered")
            self._metrics[metric.name] = metric
        return metric

    def counter(self, name: str, description: str, labelnames: Sequence[str] = ()) -> Counter:
        return self.register(Counter(name, description, labelnames))

    def gauge(self, name: str, description: str, labelnames: Sequence[str] = ()) -> Gauge:
        return self.register(Gauge(name, description, labelnames))

    def histogram(
        self, name: str, description: str, buckets: Sequence[float], labelnames: Sequence[str] = ()
    ) -> Histogram:
        return self.register(Histogram(name, description, buckets, labelnames))

    def render(self) -> str:
        with self._lock:
            metrics = list(self._metrics.values())
        return "".join(line + "\n" for metric in metrics for line in metric.render())


# --- gridsync's metrics ----------------------------------------------------------------------------

#: Seconds. Small requests take milliseconds; a night's backlog segment may take tens of seconds.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True, slots=True)
class GridsyncMetrics:
    registry: Registry
    segments: Counter  # label status: the segment's outcome ("applied", "duplicate", an error code)
    ops: Counter  # label outcome: each op's outcome from reconcile
    request_seconds: Histogram  # label route: the route template, e.g. "/v1/segments"
    backlog_segments: Gauge
    photos_bytes: Counter

    def render(self) -> str:
        return self.registry.render()


def gridsync_metrics() -> GridsyncMetrics:
    """A fresh registry holding gridsync's metrics: one per server (and per test), no globals."""
    registry = Registry()
    return GridsyncMetrics(
        registry=registry,
        segments=registry.counter("gridsync_segments_total", "Segments received, by outcome.", ["status"]),
        ops=registry.counter("gridsync_ops_total", "Operations reconciled, by outcome.", ["outcome"]),
        request_seconds=registry.histogram(
            "gridsync_request_seconds",
            "Time to answer an HTTP request, by route.",
            REQUEST_BUCKETS,
            ["route"],
        ),
        backlog_segments=registry.gauge(
            "gridsync_backlog_segments", "Segments received and not yet applied."
        ),
        photos_bytes=registry.counter("gridsync_photos_bytes_total", "Photo bytes received."),
    )
