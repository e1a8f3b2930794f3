"""One segment's ops applied to the case store, inside the caller's transaction.

The rules (`shared.rules.apply_op`) decide each op; this module adds what only the server can do:
who the actor really is (the server's worker record, never the op's claim), case numbers, possible
duplicate suggestions, the check that a duplicate's target exists, which photo blobs are foreign to
the sender (`photo.foreign`) and which have arrived (the evidence verification and closure count),
server-wide change numbers, and the op log (each op's outcome for its device and its audit row, in
one row).

Everything is batched per segment: one query loads the segment's cases, one query finds the
duplicate candidates of all its creates, one reservation each for case numbers and change
numbers, one save per touched case (not per op), one `executemany` for the op log.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from shared.model import Actor, Case, Location
from shared.ops import Op
from shared.rules import (
    ARRIVAL_CHECKED,
    DUPLICATE_RADIUS_M,
    DUPLICATE_WINDOW_S,
    REJECTED,
    Candidate,
    Outcome,
    RuleContext,
    apply_op,
    can_see,
    duplicate_distances,
)
from sync_server.store.base import Nearby, OpLogRow, Transaction
from sync_server.store.cells import cell_key, neighbourhood

#: possible duplicates offered on a new case, the nearest first
MAX_SUGGESTIONS = 5
_MOVES_A_CASE = ("create", "edit", "resolve_conflict")  # may change a case's category or place


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


class DuplicateFinder:
    """Possible duplicates of new cases (rule 7): same category, within 50 m, within a day.

    Candidates come from the store — one query for every create of the segment, by category,
    place and radius (`Transaction.duplicate_candidates`) — and from the cases this segment
    created or moved, as they stand now. The rule itself is `shared.rules.is_possible_duplicate`, in one place
    (`duplicate_distances` on the values, which also gives the distances). At most `MAX_SUGGESTIONS`, the nearest first (equal distances by
    case id): a supervisor is offered the few reports most likely to be the same problem, and a
    busy corner (a dozen reports of one overflowing bin) does not copy a dozen ids into every case.
    """

    def __init__(self, tx: Transaction, ops: Sequence[Op], now: int) -> None:
        creates = [op for op in ops if op.kind == "create"]
        self.around: dict[str, list[int]] = {}  # a create's op id -> its neighbourhood keys
        self.stored: dict[str, list[Nearby]] = {}  # a create's op id -> stored cases near it
        points = []
        for op in creates:
            place = op.payload["location"]
            self.around[op.op_id] = neighbourhood(op.payload["category"], place["lat"], place["lon"])
            self.stored[op.op_id] = []
            points.append((op.payload["category"], place["lat"], place["lon"]))
        if points:
            for row in tx.duplicate_candidates(points, DUPLICATE_RADIUS_M, now - DUPLICATE_WINDOW_S):
                self.stored[creates[row.point].op_id].append(row)
        # key -> the cases this segment created or moved there, each with its candidate as it was then
        self.fresh: dict[int, list[tuple[Case, Candidate]]] = {}

    def track(self, case: Case) -> None:
        place = case.location
        if place is not None:
            key = cell_key(case.category, place.lat, place.lon)
            self.fresh.setdefault(key, []).append((case, _candidate(case, place)))

    def suggest(self, op: Op, new: Case, cases: dict[str, Case]) -> list[str]:
        """`new` is the case `op` (a create) made; candidates are judged as they stand now (in `cases`:
        loaded or changed by this segment; a stored row otherwise)."""
        place = new.location
        if place is None:
            return []
        others: list[Candidate] = []
        seen = {new.case_id}
        for row in self.stored[op.op_id]:
            if row.case_id in seen:
                continue
            seen.add(row.case_id)
            current = cases.get(row.case_id)
            if current is None:
                others.append(row[1:])  # a `Nearby` after its point is a candidate
            elif current.location is not None:
                others.append(_candidate(current, current.location))
        for key in self.around[op.op_id]:
            for tracked, candidate in self.fresh.get(key, ()):
                case_id = candidate[0]
                if case_id in seen:
                    continue
                seen.add(case_id)
                current = cases[case_id]
                if current is tracked:  # unchanged since (the rules change a copy, never the case)
                    others.append(candidate)
                elif current.location is not None:
                    others.append(_candidate(current, current.location))
        if not others:
            return []
        chosen = duplicate_distances(new.category, place.lat, place.lon, new.reported_at, others)
        chosen.sort()
        return [case_id for _, case_id in chosen[:MAX_SUGGESTIONS]]


def _candidate(case: Case, place: Location) -> Candidate:
    return (case.case_id, case.category, case.status, place.lat, place.lon, case.reported_at)


def foreign_photos(tx: Transaction, ops: Sequence[Op], actor: Actor, device_id: str) -> set[str]:
    """The blobs the segment's photo ops name that are not the sender's to name: a blob whose upload
    another device began, or one a stored case holds that this person may not see. A blob belongs
    to the cases whose ops named it first-hand; naming someone else's would hand its bytes over."""
    shas = {op.payload["sha256"] for op in ops if op.kind == "photo"}
    if not shas:
        return set()
    foreign = {
        sha for sha, record in tx.photo_records(shas).items() if record.uploader not in (None, device_id)
    }
    for sha, holders in tx.photo_holders(shas - foreign).items():
        if not all(can_see(case, actor) for case in holders):
            foreign.add(sha)
    return foreign


def arrived_photos(tx: Transaction, ops: Sequence[Op], cases: dict[str, Case]) -> frozenset[str] | None:
    """The complete blobs among the photos of the cases this segment verifies or closes (None when
    it does neither): the evidence the rules may count (`RuleContext.arrived`)."""
    targets = {
        op.case_id for op in ops if op.kind == "transition" and op.payload["action"] in ARRIVAL_CHECKED
    }
    if not targets:
        return None
    shas = {photo.sha256 for case_id in targets if case_id in cases for photo in cases[case_id].photos}
    shas.update(op.payload["sha256"] for op in ops if op.kind == "photo" and op.case_id in targets)
    return frozenset(sha for sha, record in tx.photo_records(shas).items() if record.complete)


@dataclass(frozen=True, slots=True)
class Applied:
    outcomes: list[Outcome]  # one per op, in order
    changes: tuple[int, int]  # the first and last change number of the ops' op log rows


def apply_ops(tx: Transaction, ops: Sequence[Op], batch: Batch, ctx: RuleContext) -> Applied:
    """Apply every op in order, write cases and the op log; return the outcomes."""
    wanted = {op.case_id for op in ops}
    wanted.update(op.payload["duplicate_of"] for op in ops if op.kind == "link_duplicate")
    cases = tx.load_cases(wanted)
    changed: dict[str, Case] = {}
    created: list[str] = []
    outcomes: list[Outcome] = []
    duplicates = DuplicateFinder(tx, ops, ctx.now)
    actor = batch.actor
    foreign = foreign_photos(tx, ops, actor, batch.device_id)
    arrived = arrived_photos(tx, ops, cases)
    if arrived is not None:
        ctx = replace(ctx, arrived=arrived)
    for op in ops:
        if op.actor != actor.worker_id:
            outcomes.append(_rejected(op, "case.not_allowed", "the op's actor is not this device's worker"))
            continue
        if op.kind == "link_duplicate" and op.payload["duplicate_of"] not in cases:
            outcomes.append(_rejected(op, "case.unknown", "the case it duplicates does not exist"))
            continue
        if op.kind == "photo" and op.payload["sha256"] in foreign:
            outcomes.append(_rejected(op, "photo.foreign", op.payload["stage"]))
            continue
        outcome, new = apply_op(cases.get(op.case_id), op, actor, ctx)
        outcomes.append(outcome)
        if new is None:
            continue
        if op.kind == "create":
            new.possible_duplicates = duplicates.suggest(op, new, cases)
            created.append(new.case_id)
        cases[new.case_id] = changed[new.case_id] = new
        if op.kind in _MOVES_A_CASE:
            duplicates.track(new)
    if created:  # numbered in the order they were created, in one reservation
        year = local_year(batch.now, batch.utc_offset_minutes)
        first_no = tx.reserve_case_numbers(year, len(created))
        for i, case_id in enumerate(created):
            changed[case_id].case_no = case_number(year, first_no + i)
    first = tx.reserve_change_seqs(len(changed) + len(outcomes))
    tx.save_cases([(case, first + i) for i, case in enumerate(changed.values())])
    first += len(changed)
    device_id, received_at, now, flags = batch.device_id, batch.received_at, batch.now, batch.flags
    tx.record_ops(
        [
            OpLogRow(device_id, o.seq, o.op_id, op.actor, o.case_id, op.kind, o.outcome, o.code, o.version, o.detail,
                     first + i, received_at, now, flags)
            for i, (op, o) in enumerate(zip(ops, outcomes, strict=True))
        ]
    )  # fmt: skip
    return Applied(outcomes, (first, first + len(outcomes) - 1))
