"""Two supervisors editing, then resolving, the same case at the same moment through different
`serve` processes over one PostgreSQL: the outcome SQLite gives, and the hard conflict recorded once.

Each supervisor's phone (a real `Device`) is pinned to a machine of its own, the reporting worker's
to a third. Each race: the worker reports a case; both supervisors pull it, set its description to
different values offline, and sync at once — one edit is applied, the other becomes the one hard
conflict; both pull the conflict and resolve it at once, one "keep", one "take" — one resolution is
applied, the other answered `duplicate`. Repeated `RACES` times. Then the phones' segments, replayed
into a fresh SQLite store in the order PostgreSQL committed them, give the same cases and the same
outcome for every op.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from bench import fleet
from mobile.core.device import Device
from mobile.core.location import Fix
from tests.postgres import cluster as clusters
from tests.postgres.checks import canonical_cases, problems

pytestmark = pytest.mark.postgres

RACES = 20
FIGURES: Counter[str] = Counter()  # docs/reliability.md


async def _synced(*phones: Device) -> None:
    reports = await asyncio.gather(*(phone.sync() for phone in phones))
    assert all(r.ok for r in reports), [r.problems for r in reports]


def _conflict_id(phone: Device, case_id: str) -> str:
    view = phone.case(case_id)
    assert view is not None
    (conflict,) = view.case.conflicts
    return conflict.conflict_id


async def _races(cluster: clusters.Cluster, worker: fleet.Member, sups: list[fleet.Member]) -> list[Device]:
    reporter = await cluster.phone(worker, machines=[2])
    a = await cluster.phone(sups[0], machines=[0])
    b = await cluster.phone(sups[1], machines=[1])
    store = cluster.store()
    try:
        for race in range(RACES):
            lat, lon = worker.cells[0].point(0.3, 0.6)
            case_id = reporter.report(category="0101", location=Fix(lat, lon, 5.0, fleet.NOW),
                                      description=f"井盖松动 {race}")  # fmt: skip
            await _synced(reporter)
            await _synced(a, b)
            a.edit(case_id, description=f"A: 井盖缺失 {race}")
            b.edit(case_id, description=f"B: 井盖破损 {race}")
            await _synced(a, b)  # the edit race
            await _synced(a, b)  # both learn the outcome
            rows = store.audit_rows(case_id)
            edits = [r for r in rows if r.kind == "edit"]
            assert sorted(r.outcome for r in edits) == ["applied", "hard_conflict"], edits
            case = store.case(case_id)
            assert case is not None and len(case.conflicts) == 1 and case.hard_conflict
            winner = next(r.device_id for r in edits if r.outcome == "applied")
            FIGURES[f"edit won by {'A' if winner == a.identity.device_id else 'B'}"] += 1  # type: ignore[union-attr]
            conflict = _conflict_id(a, case_id)
            assert conflict == _conflict_id(b, case_id)
            a.resolve_conflict(case_id, conflict, "keep")
            b.resolve_conflict(case_id, conflict, "take")
            await _synced(a, b)  # the resolution race
            await _synced(a, b, reporter)
            resolves = [r for r in store.audit_rows(case_id) if r.kind == "resolve_conflict"]
            assert sorted(r.outcome for r in resolves) == ["applied", "duplicate"], resolves
            case = store.case(case_id)
            assert case is not None and not case.hard_conflict
            (settled,) = case.conflicts  # still one conflict, resolved once
            assert settled.resolved and settled.resolution in ("keep", "take")
            FIGURES[f"resolved {settled.resolution}"] += 1
    finally:
        store.close()
    return [reporter, a, b]


def test_two_supervisors_racing_on_one_case_through_two_processes_record_one_conflict(
    tmp_path: Path, pg_url: str
) -> None:
    city = fleet.lattice.cells(4)
    worker = fleet.member(0, city[:1], seed=8, grids=1)
    sups = [fleet.member(i, city, seed=8, role="supervisor") for i in (1, 2)]
    cluster = clusters.build(tmp_path, pg_url, [worker, *sups], city)
    cluster.start()
    try:
        phones = asyncio.run(_races(cluster, worker, sups))
        store = cluster.store()
        try:
            sent = {}
            for phone in phones:
                assert phone.pending().empty
                (last,) = phone.store.one("SELECT COALESCE(MAX(seq), 0) FROM outbox")
                sent[phone.identity.device_id] = int(last)  # type: ignore[union-attr]
            assert problems(store, sent) == []
            hard = [r for r in store.audit_rows() if r.outcome == "hard_conflict"]
            assert len(hard) == RACES  # once per race, never twice
            # the same outcome as on SQLite: the same segments in PostgreSQL's commit order
            reference = clusters.replay(cluster, phones)
            try:
                assert clusters.outcomes(reference, phones) == clusters.outcomes(store, phones)
                assert canonical_cases(reference) == canonical_cases(store)
            finally:
                reference.close()
        finally:
            store.close()
    finally:
        cluster.stop()
    print(f"\ntwo supervisors, {RACES} races: {dict(sorted(FIGURES.items()))}")
