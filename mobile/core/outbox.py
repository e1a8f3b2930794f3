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
from typing import Any, NamedTuple

from mobile.core.store import Store, dumps
from shared.ops import Op, encode_ops, validate_op
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


def decode(text: str) -> Op:
    """An op as the outbox stores it (its JSON), checked again."""
    return validate_op(json.loads(text))


def op_text(op: Op) -> str:
    """An op as the outbox stores it: its wire JSON, exactly as a segment carries it
    (`shared.ops.encode_ops` of the op alone, without the brackets), so sealing splices the stored
    texts without parsing or encoding them again. Rows stored before this form (keys sorted) are the
    same JSON object and are spliced as they are."""
    return encode_ops([op])[1:-1].decode()


def _record(row: sqlite3.Row) -> OpRecord:
    outcome = json.loads(row["outcome"]) if row["outcome"] else None
    return OpRecord(row["seq"], decode(row["op"]), row["state"], outcome)


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
            (op.seq, op.op_id, op.case_id, op.kind, op_text(op), "pending", now),
        )
        last = op.seq
    if last is not None:
        conn.execute("UPDATE identity SET next_seq = ? WHERE id = 1", (last + 1,))


def pending_texts(conn: sqlite3.Connection, limit: int) -> list[tuple[int, str]]:
    """The first pending ops as (seq, stored text), in sequence order: what the next segment carries.
    They were validated when made (`casework`); the server validates them again on arrival."""
    rows = conn.execute("SELECT seq, op FROM outbox WHERE state = 'pending' ORDER BY seq LIMIT ?", (limit,))
    return [(int(r[0]), str(r[1])) for r in rows]


class Settled(NamedTuple):
    """One op's outcome newly stored: its case, the outcome's name (`applied`, `soft_conflict`, …),
    and the op's (state, outcome version) before and after — what decides whether the case's local
    view re-applies the op (`casebook.views_changed`)."""

    case_id: str
    outcome: str
    before: tuple[str, Any]
    after: tuple[str, Any]


def _version(outcome: dict[str, Any] | None) -> Any:
    return None if outcome is None else outcome.get("version")


def record_outcomes(conn: sqlite3.Connection, outcomes: Iterable[dict[str, Any]]) -> list[Settled]:
    """Store the server's outcomes of our ops: one read and one `executemany` for all of them. An
    outcome of an op we never made, of an unknown kind, or the same as the one stored is skipped; an
    op named twice ends with its later outcome. Returns what changed, in order."""
    known: list[tuple[dict[str, Any], str]] = []
    for outcome in outcomes:
        state = _STATE_OF_OUTCOME.get(str(outcome.get("outcome")))
        if state is not None:
            known.append((outcome, state))
    if not known:
        return []
    held = {
        row[0]: (str(row[1]), str(row[2]), row[3])
        for row in conn.execute(
            "SELECT op_id, case_id, state, outcome FROM outbox WHERE op_id IN (SELECT value FROM json_each(?))",
            (json.dumps([o.get("op_id") for o, _ in known]),),
        )
    }
    updates, settled = [], []
    for outcome, state in known:
        op_id = outcome.get("op_id")
        row = held.get(op_id) if isinstance(op_id, str) else None
        text = dumps(outcome)
        if row is None or (row[1] == state and row[2] == text):
            continue
        case_id, before_state, before_text = row
        before = (before_state, _version(json.loads(before_text)) if before_text else None)
        settled.append(Settled(case_id, str(outcome.get("outcome")), before, (state, _version(outcome))))
        held[op_id] = (case_id, state, text)
        updates.append((state, text, op_id))
    conn.executemany("UPDATE outbox SET state = ?, outcome = ? WHERE op_id = ?", updates)
    return settled


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
