"""One segment's ops applied to the case store, inside the caller's transaction.

The rules (`shared.rules.apply_op`) decide each op; this module adds what only the server can do:
who the actor really is (the server's worker record, never the op's claim), case numbers, possible
duplicate suggestions, the check that a duplicate's target exists, server-wide change numbers, and
the audit trail. Everything is batched: one query loads the segment's cases, one `executemany`
writes each table.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from shared.model import Actor, Case
from shared.ops import Op
from shared.rules import (
    DUPLICATE_RADIUS_M,
    DUPLICATE_WINDOW_S,
    REJECTED,
    Outcome,
    RuleContext,
    apply_op,
    is_possible_duplicate,
)
from sync_server.store.base import AuditRow, OutcomeRow, Transaction

_DEGREE_M = 111_320.0  # metres per degree of latitude (and of longitude at the equator)
_BUCKET_DEG = 0.0005  # ~55 m of latitude: a 3 × 3 block of buckets covers 50 m in every direction here
MAX_SUGGESTIONS = 20


@dataclass(frozen=True, slots=True)
class Batch:
    """Who sent the ops and when: the same for every op of a segment."""

    device_id: str
    actor: Actor
    received_at: int
    now: int
    utc_offset_minutes: int = 480
    flags: str = ""


def case_number(year: int, counter: int) -> str:
    """`YYYY` + 6 digits (e.g. 2026000123); past a million cases a year the counter just grows."""
    return f"{year}{counter:06d}"


def local_year(now: int, utc_offset_minutes: int) -> int:
    return time.gmtime(now + utc_offset_minutes * 60).tm_year


def _rejected(op: Op, code: str, detail: str) -> Outcome:
    return Outcome(op.op_id, op.seq, op.case_id, REJECTED, code, None, detail)


def _duplicate_box(case: Case) -> tuple[float, float, float, float]:
    assert case.location is not None
    lat, lon = case.location.lat, case.location.lon
    d_lat = DUPLICATE_RADIUS_M / _DEGREE_M * 1.05
    d_lon = d_lat / max(math.cos(math.radians(lat)), 0.01)
    return (lat - d_lat, lat + d_lat, lon - d_lon, lon + d_lon)


class DuplicateFinder:
    """Possible duplicates of new cases (rule 7): same category, within 50 m, within a day.

    Candidates come from the store (a small lat/lon box on an index) and from the cases created
    earlier in the same segment, kept in ~55 m buckets so a segment of many creates stays linear.
    The rule itself is `shared.rules.is_possible_duplicate`, in one place.
    """

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.buckets: dict[tuple[str, int, int], list[Case]] = {}

    @staticmethod
    def _bucket(category: str, lat: float, lon: float) -> tuple[str, int, int]:
        return (category, math.floor(lat / _BUCKET_DEG), math.floor(lon / _BUCKET_DEG))

    def suggest(self, new: Case, cases: dict[str, Case]) -> list[str]:
        if new.location is None:
            return []
        since = new.reported_at - DUPLICATE_WINDOW_S
        found = {c.case_id: c for c in self.tx.duplicate_candidates(new.category, _duplicate_box(new), since)}
        _, row, col = self._bucket(new.category, new.location.lat, new.location.lon)
        for d_row in (-1, 0, 1):
            for d_col in (-1, 0, 1):
                for case in self.buckets.get((new.category, row + d_row, col + d_col), ()):
                    found[case.case_id] = case
        # a case changed earlier in this segment is judged as it stands now (e.g. just voided)
        chosen: list[str] = []
        for case_id in sorted(found):
            if is_possible_duplicate(new, cases.get(case_id, found[case_id])):
                chosen.append(case_id)
                if len(chosen) == MAX_SUGGESTIONS:
                    break
        self.buckets.setdefault((new.category, row, col), []).append(new)
        return chosen


def apply_ops(tx: Transaction, ops: Sequence[Op], batch: Batch, ctx: RuleContext) -> list[Outcome]:
    """Apply every op in order, write cases, outcomes and audit rows; return the outcomes."""
    wanted = {op.case_id for op in ops}
    wanted.update(op.payload["duplicate_of"] for op in ops if op.kind == "link_duplicate")
    cases = tx.load_cases(wanted)
    changed: dict[str, Case] = {}
    outcomes: list[Outcome] = []
    duplicates = DuplicateFinder(tx)
    actor = batch.actor
    for op in ops:
        if op.actor != actor.worker_id:
            outcomes.append(_rejected(op, "case.not_allowed", "the op's actor is not this device's worker"))
            continue
        if op.kind == "link_duplicate" and op.payload["duplicate_of"] not in cases:
            outcomes.append(_rejected(op, "case.unknown", "the case it duplicates does not exist"))
            continue
        outcome, new = apply_op(cases.get(op.case_id), op, actor, ctx)
        outcomes.append(outcome)
        if new is None:
            continue
        if op.kind == "create":
            counter = tx.reserve_case_numbers(local_year(batch.now, batch.utc_offset_minutes), 1)
            new.case_no = case_number(local_year(batch.now, batch.utc_offset_minutes), counter)
            new.possible_duplicates = duplicates.suggest(new, cases)
        cases[new.case_id] = new
        changed[new.case_id] = new
    first = tx.reserve_change_seqs(len(changed) + len(outcomes))
    tx.save_cases([(case, first + i) for i, case in enumerate(changed.values())])
    first += len(changed)
    tx.record_outcomes(
        [
            OutcomeRow(batch.device_id, o.seq, o.op_id, o.case_id, o.outcome, o.code, o.version, o.detail,
                       first + i, batch.received_at, batch.now)
            for i, o in enumerate(outcomes)
        ]
    )  # fmt: skip
    tx.record_audit(
        [
            AuditRow(o.op_id, op.actor, batch.device_id, o.case_id, op.kind, o.outcome, o.code, batch.received_at,
                     batch.now, batch.flags)
            for op, o in zip(ops, outcomes, strict=True)
        ]
    )  # fmt: skip
    return outcomes
