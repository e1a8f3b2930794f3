"""The outbox: every op this phone made, in sequence order, and what became of it.

An op row moves `pending` (written, not yet sealed) → `sealed` (inside a segment, waiting for its
outcome) → `applied` | `rejected` | `conflict` once the server's outcome arrives, by a receipt or by
the changes feed. Nothing is ever deleted: a rejected op stays, with its reason, for the worker to see.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mobile.core.store import Store, dumps
from shared.ops import Op, validate_op
from shared.rules import APPLIED, DUPLICATE, HARD, REJECTED, SOFT

UNSETTLED = ("pending", "sealed")

_STATE_OF_OUTCOME = {
    APPLIED: "applied",
    SOFT: "applied",
    DUPLICATE: "applied",
    REJECTED: "rejected",
    HARD: "conflict",
}


@dataclass(frozen=True, slots=True)
class OpRecord:
    seq: int
    op: Op
    state: str
    outcome: dict[str, Any] | None


def _record(row: sqlite3.Row) -> OpRecord:
    outcome = json.loads(row["outcome"]) if row["outcome"] else None
    return OpRecord(row["seq"], validate_op(json.loads(row["op"])), row["state"], outcome)


def next_seq(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT next_seq FROM identity WHERE id = 1").fetchone()
    if row is None:
        raise RuntimeError("the device is not enrolled")
    return int(row[0])


def append(conn: sqlite3.Connection, ops: Iterable[Op], now: int) -> None:
    """Add ops (their seqs must continue the outbox) and move the device's next sequence number on."""
    last = None
    for op in ops:
        conn.execute(
            "INSERT INTO outbox (seq, op_id, case_id, kind, op, state, created_at) VALUES (?,?,?,?,?,?,?)",
            (op.seq, op.op_id, op.case_id, op.kind, dumps(op.to_dict()), "pending", now),
        )
        last = op.seq
    if last is not None:
        conn.execute("UPDATE identity SET next_seq = ? WHERE id = 1", (last + 1,))


def pending(conn: sqlite3.Connection, limit: int) -> list[Op]:
    rows = conn.execute("SELECT * FROM outbox WHERE state = 'pending' ORDER BY seq LIMIT ?", (limit,))
    return [_record(r).op for r in rows]


def unsettled_for_case(conn: sqlite3.Connection, case_id: str, server_version: int) -> list[Op]:
    """The ops the local view re-applies on top of the server's case: those without an outcome, and
    those applied at the server in a version this phone has not pulled yet (so a receipt never makes
    a change disappear from the screen until the pull brings it back)."""
    rows = conn.execute(
        "SELECT * FROM outbox WHERE case_id = ? AND (state IN ('pending', 'sealed') OR "
        "(state = 'applied' AND json_extract(outcome, '$.version') > ?)) ORDER BY seq",
        (case_id, server_version),
    )
    return [_record(r).op for r in rows]


def cases_acted_on(conn: sqlite3.Connection, case_ids: list[str]) -> set[str]:
    """Which of these cases this phone ever acted on (any op, settled or not), in one query."""
    rows = conn.execute(
        "SELECT DISTINCT case_id FROM outbox WHERE case_id IN (SELECT value FROM json_each(?))",
        (json.dumps(case_ids),),
    )
    return {row[0] for row in rows}


def own_ops(conn: sqlite3.Connection, case_id: str) -> list[Op]:
    rows = conn.execute("SELECT * FROM outbox WHERE case_id = ? ORDER BY seq", (case_id,))
    return [_record(r).op for r in rows]


def record_outcome(conn: sqlite3.Connection, outcome: dict[str, Any]) -> str | None:
    """Store the server's outcome of one of our ops. Returns the op's case id, None if unknown."""
    state = _STATE_OF_OUTCOME.get(str(outcome.get("outcome")))
    if state is None:
        return None
    row = conn.execute(
        "SELECT case_id, state, outcome FROM outbox WHERE op_id = ?", (outcome.get("op_id"),)
    ).fetchone()
    if row is None or (row["state"] == state and row["outcome"] == dumps(outcome)):
        return None
    conn.execute(
        "UPDATE outbox SET state = ?, outcome = ? WHERE op_id = ?", (state, dumps(outcome), outcome["op_id"])
    )
    return str(row[0])


def case_has_unsettled(store: Store, case_id: str) -> bool:
    row = store.one(
        "SELECT 1 FROM outbox WHERE case_id = ? AND state IN ('pending', 'sealed') LIMIT 1", (case_id,)
    )
    return row is not None


def cases_with_unsettled(store: Store) -> set[str]:
    return {
        r[0] for r in store.all("SELECT DISTINCT case_id FROM outbox WHERE state IN ('pending', 'sealed')")
    }


def problems_of(store: Store, case_id: str) -> list[OpRecord]:
    rows = store.all(
        "SELECT * FROM outbox WHERE case_id = ? AND state IN ('rejected', 'conflict') ORDER BY seq",
        (case_id,),
    )
    return [_record(r) for r in rows]


def cases_with_problems(store: Store) -> set[str]:
    return {
        r[0] for r in store.all("SELECT DISTINCT case_id FROM outbox WHERE state IN ('rejected', 'conflict')")
    }


def counts(store: Store) -> dict[str, int]:
    rows = store.all("SELECT state, COUNT(*) FROM outbox GROUP BY state")
    return {r[0]: int(r[1]) for r in rows}


def all_records(store: Store) -> list[OpRecord]:
    return [_record(r) for r in store.all("SELECT * FROM outbox ORDER BY seq")]
