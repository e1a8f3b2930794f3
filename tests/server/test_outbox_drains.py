"""A phone's outbox always drains (issue 10 item 2): whatever the gaps, forced applies, late arrivals,
resends and orders, over HTTP and the spool mixed, every segment ends applied or resent — never
refused — and the store holds every op exactly once."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sync_server.config import ServerConfig
from sync_server.ingest import run_ingest
from tests.server.device import TestDevice, hex32

WAIT = 3600
# A phone here pushes far faster than any person: the per-device push budget, where the server has
# one, is switched off (0) for this test.
NO_PUSH_LIMIT = {
    name: 0 for name in ("push_per_device_per_min", "push_per_address_per_min") if hasattr(ServerConfig, name)
}
_PHONES: dict[int, TestDevice] = {}


def _phone(enrolled: Any, services: Any) -> TestDevice:
    if id(services) not in _PHONES:
        _PHONES.clear()
        _PHONES[id(services)] = enrolled("zhang.wei")
    return _PHONES[id(services)]


SETTLED = ("applied", "resent")

# What happens to the phone's segments on the way: sent over HTTP, copied to the spool, the night's
# ingest, the backlog's wait running out (the sweep forces what waited), in any order and repeated.
STEP = st.one_of(
    st.tuples(st.just("http"), st.integers(0, 20)),
    st.tuples(st.just("spool"), st.integers(0, 20)),
    st.tuples(st.just("ingest"), st.just(0)),
    st.tuples(st.just("wait"), st.just(0)),
)


@pytest.mark.parametrize("config_overrides", [{"backlog_force_after_s": WAIT, **NO_PUSH_LIMIT}])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kinds=st.lists(st.sampled_from(["create", "note"]), min_size=1, max_size=14),
    cuts=st.lists(st.integers(1, 14), min_size=1, max_size=6),
    steps=st.lists(STEP, min_size=2, max_size=14),
)
@example(kinds=["create", "note", "create"], cuts=[1, 2], steps=[("http", 1), ("wait", 0)])  # late over HTTP
@example(kinds=["note", "note", "note"], cuts=[1, 2], steps=[("spool", 2), ("ingest", 0), ("wait", 0)])
def test_any_stream_with_gaps_forced_applies_late_arrivals_and_resends_drains_and_applies_every_op_once(
    enrolled: Any, services: Any, clock: Any, tmp_path_factory: Any, kinds: list[str], cuts: list[int],
    steps: list[tuple[str, int]],
) -> None:  # fmt: skip
    phone = _phone(enrolled, services)  # one phone across examples: each example leaves it drained
    spool: Path = tmp_path_factory.mktemp("spool")
    base = hex32()
    base_op = phone.create(base)
    assert phone.push_ops([base_op])["status"] == "applied"
    ops = [phone.create(category="0102") if kind == "create" else phone.note(base, hex32()) for kind in kinds]
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(ops)}), len(ops)]
    segments = [phone.seal(ops[a:b]) for a, b in itertools.pairwise(bounds)]
    settled: dict[int, str] = {}

    def push(index: int) -> None:
        response = phone.push(segments[index])
        assert response.status_code == 200, response.text  # never a refusal: no fork here, ever
        status = response.json()["status"]
        if status in SETTLED:
            settled[index] = status

    for action, pick in steps:
        if action == "http":
            push(pick % len(segments))
        elif action == "spool":
            (spool / f"{hex32()}.seg").write_bytes(segments[pick % len(segments)])
        elif action == "ingest":
            summary = run_ingest(services, spool, progress=False, workers=0)
            assert summary.rejected == 0
        else:
            clock.now += WAIT + 1
            services.reconciler.sweep_backlog(clock.now)
    # The phone re-sends what has no receipt yet, in order, as its sync rounds do, the backlog's
    # wait running out between rounds.
    for _ in range(len(segments) + 1):
        for index in range(len(segments)):
            if index not in settled:
                push(index)
        if len(settled) == len(segments):
            break
        clock.now += WAIT + 1
        services.reconciler.sweep_backlog(clock.now)
    assert len(settled) == len(segments), "the outbox did not drain"
    mine = {base_op["op_id"], *(op["op_id"] for op in ops)}
    rows = [row for row in services.store.audit_rows() if row.op_id in mine]
    assert Counter(row.op_id for row in rows) == Counter(mine)  # every op exactly once
    assert {row.outcome for row in rows} == {"applied"}
    notes = [n.text for n in services.store.case(base).notes]
    assert sorted(notes) == sorted(op["payload"]["text"] for op in ops if op["kind"] == "note")
    for op in ops:
        if op["kind"] == "create":
            assert services.store.case(op["case_id"]).description == op["payload"]["description"]
    assert not [q for q in services.store.quarantined() if q.device_id == phone.device_id]
