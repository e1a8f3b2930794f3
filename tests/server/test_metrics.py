"""The Prometheus text exposition format, checked character for character."""

from __future__ import annotations

import threading

import pytest

from sync_server.metrics import Counter, Gauge, Histogram, Registry, format_value, gridsync_metrics

FRESH = """\
# HELP gridsync_segments_total Segments received, by outcome.
# TYPE gridsync_segments_total counter
# HELP gridsync_ops_total Operations reconciled, by outcome.
# TYPE gridsync_ops_total counter
# HELP gridsync_request_seconds Time to answer an HTTP request, by route.
# TYPE gridsync_request_seconds histogram
# HELP gridsync_backlog_segments Segments received and not yet applied.
# TYPE gridsync_backlog_segments gauge
gridsync_backlog_segments 0.0
# HELP gridsync_photos_bytes_total Photo bytes received.
# TYPE gridsync_photos_bytes_total counter
gridsync_photos_bytes_total 0.0
"""


def test_fresh_gridsync_metrics_show_help_type_and_unlabelled_zeros() -> None:
    assert gridsync_metrics().render() == FRESH


def test_gridsync_metrics_after_a_night_of_work() -> None:
    m = gridsync_metrics()
    m.segments.inc(status="applied")
    m.segments.inc(2, status="applied")
    m.segments.inc(status="segment.bad_signature")
    m.ops.inc(40, outcome="applied")
    m.ops.inc(outcome="conflict")
    m.request_seconds.observe(0.004, route="/v1/segments")
    m.request_seconds.observe(0.3, route="/v1/segments")
    m.request_seconds.observe(120, route="/v1/segments")
    m.backlog_segments.set(7)
    m.backlog_segments.dec()
    m.photos_bytes.inc(2_500_000)
    buckets = [
        ("0.005", 1), ("0.01", 1), ("0.025", 1), ("0.05", 1), ("0.1", 1), ("0.25", 1), ("0.5", 2),
        ("1.0", 2), ("2.5", 2), ("5.0", 2), ("10.0", 2), ("30.0", 2), ("60.0", 2), ("+Inf", 3),
    ]  # fmt: skip
    expected = (
        "# HELP gridsync_segments_total Segments received, by outcome.\n"
        "# TYPE gridsync_segments_total counter\n"
        'gridsync_segments_total{status="applied"} 3.0\n'
        'gridsync_segments_total{status="segment.bad_signature"} 1.0\n'
        "# HELP gridsync_ops_total Operations reconciled, by outcome.\n"
        "# TYPE gridsync_ops_total counter\n"
        'gridsync_ops_total{outcome="applied"} 40.0\n'
        'gridsync_ops_total{outcome="conflict"} 1.0\n'
        "# HELP gridsync_request_seconds Time to answer an HTTP request, by route.\n"
        "# TYPE gridsync_request_seconds histogram\n"
        + "".join(
            f'gridsync_request_seconds_bucket{{route="/v1/segments",le="{le}"}} {n}.0\n' for le, n in buckets
        )
        + 'gridsync_request_seconds_sum{route="/v1/segments"} 120.304\n'
        'gridsync_request_seconds_count{route="/v1/segments"} 3.0\n'
        "# HELP gridsync_backlog_segments Segments received and not yet applied.\n"
        "# TYPE gridsync_backlog_segments gauge\n"
        "gridsync_backlog_segments 6.0\n"
        "# HELP gridsync_photos_bytes_total Photo bytes received.\n"
        "# TYPE gridsync_photos_bytes_total counter\n"
        "gridsync_photos_bytes_total 2500000.0\n"
    )
    assert m.render() == expected


def test_unlabelled_histogram_shows_empty_buckets_and_a_value_on_a_bound_counts_in_that_bucket() -> None:
    registry = Registry()
    h = registry.histogram("h_seconds", "H.", [0.5, 1])
    assert registry.render() == (
        "# HELP h_seconds H.\n# TYPE h_seconds histogram\n"
        'h_seconds_bucket{le="0.5"} 0.0\nh_seconds_bucket{le="1.0"} 0.0\nh_seconds_bucket{le="+Inf"} 0.0\n'
        "h_seconds_sum 0.0\nh_seconds_count 0.0\n"
    )
    h.observe(0.5)
    h.observe(1)
    assert 'h_seconds_bucket{le="0.5"} 1.0\nh_seconds_bucket{le="1.0"} 2.0\n' in registry.render()


def test_label_values_and_help_are_escaped() -> None:
    registry = Registry()
    c = registry.counter("c_total", 'Back\\slash and\nnewline "kept".', ["route"])
    c.inc(route='a"b\\c\nd')
    assert registry.render() == (
        '# HELP c_total Back\\\\slash and\\nnewline "kept".\n'
        "# TYPE c_total counter\n"
        'c_total{route="a\\"b\\\\c\\nd"} 1.0\n'
    )


def test_series_are_sorted_by_label_values_whatever_the_order_of_first_use() -> None:
    registry = Registry()
    c = registry.counter("c_total", "C.", ["a", "b"])
    c.inc(a="z", b="1")
    c.inc(b="2", a="m")
    lines = registry.render().splitlines()[2:]
    assert lines == ['c_total{a="m",b="2"} 1.0', 'c_total{a="z",b="1"} 1.0']


def test_values_print_as_the_reference_client_prints_them() -> None:
    assert [format_value(v) for v in (0, 1, 0.005, 1e20, float("inf"), float("-inf"), float("nan"))] == [
        "0.0",
        "1.0",
        "0.005",
        "1e+20",
        "+Inf",
        "-Inf",
        "NaN",
    ]


def test_misuse_is_refused() -> None:
    registry = Registry()
    c = registry.counter("c_total", "C.", ["status"])
    with pytest.raises(ValueError, match="only goes up"):
        c.inc(-1, status="x")
    with pytest.raises(ValueError, match="takes labels"):
        c.inc(outcome="x")
    with pytest.raises(ValueError, match="takes labels"):
        c.inc()
    with pytest.raises(ValueError, match="already registered"):
        registry.gauge("c_total", "again")
    with pytest.raises(ValueError, match="invalid metric name"):
        Counter("gridsync-segments", "C.")
    with pytest.raises(ValueError, match="invalid label name"):
        Histogram("h", "H.", [1], ["le"])
    with pytest.raises(ValueError, match="buckets"):
        Histogram("h", "H.", [2, 1])


def test_concurrent_updates_lose_nothing() -> None:
    counter = Counter("c_total", "C.", ["worker"])
    gauge = Gauge("g", "G.")
    histogram = Histogram("h", "H.", [0.5])

    def work() -> None:
        for _ in range(5_000):
            counter.inc(worker="w")
            gauge.inc()
            histogram.observe(0.1)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter.value(worker="w") == 40_000
    assert gauge.value() == 40_000
    assert ("_count", (), 40_000.0) in histogram.samples()
