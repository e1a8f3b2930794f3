"""Sealing the outbox into segments, and remembering what the server said about each.

Pending ops are cut, in sequence order, into segments of at most `MAX_OPS` ops or about `MAX_PLAIN`
bytes of plaintext, each chained to the previous one by `segment_hash`. A sealed segment's exact
bytes are stored with it and never sealed again: a resend after any failure is byte-identical, so
the server recognises it (`resent`) instead of seeing a conflict.

Settled segments are kept for `server_life.segment_retention_s` (30 days unless the server says
otherwise) after the server accepted them, then pruned: until then, a server restored from a backup
that lacks them gets them again, the same bytes in the same order (`reopen_after`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mobile.core import outbox
from mobile.core.store import Store, dumps
from shared.envelope import seal_segment, segment_hash

MAX_OPS = 500
MAX_PLAIN = 1024 * 1024
SETTLED = ("applied", "resent")  # a receipt with outcomes: nothing more to send
ACCEPTED = ("applied", "resent", "held", "queued")  # the server holds the bytes
RESEND_UNSETTLED_AFTER_S = 24 * 3600  # held or queued this long without outcomes: send the bytes again
RETENTION_S = 30 * 24 * 3600  # the default; the server's changes page may set another


@dataclass(frozen=True, slots=True)
class SegmentRecord:
    first_seq: int
    last_seq: int
    op_count: int
    hash: bytes
    blob: bytes
    status: str | None
    receipt: dict[str, Any] | None


def _record(row: sqlite3.Row) -> SegmentRecord:
    receipt = json.loads(row["receipt"]) if row["receipt"] else None
    return SegmentRecord(
        row["first_seq"],
        row["last_seq"],
        row["op_count"],
        bytes(row["hash"]),
        bytes(row["bytes"]),
        row["status"],
        receipt,
    )


def cut(texts: list[str], max_plain: int) -> tuple[int, bytes]:
    """How many of the first ops go in one segment — as many as keep its plaintext within
    `max_plain` bytes, at least one — and that plaintext: the ops' stored texts comma-joined in
    brackets (`encode_ops` of those ops, byte for byte, for texts stored by `outbox.op_text`)."""
    size, parts = 1, list[bytes]()  # the brackets, less the comma the first op does not need
    for text in texts:
        part = text.encode()
        size += len(part) + 1  # its bytes plus a comma
        if parts and size > max_plain:
            break
        parts.append(part)
    return len(parts), b"[" + b",".join(parts) + b"]"


def seal_pending(
    store: Store,
    *,
    device_id: str,
    device_key: Ed25519PrivateKey,
    server_public_raw: bytes,
    clock: Callable[[], int],
    max_ops: int = MAX_OPS,
    max_plain: int = MAX_PLAIN,
) -> int:
    """Seal every pending op. Each segment is one transaction (bytes stored, ops marked, chain moved
    on together). Returns the number of segments sealed."""
    sealed = 0
    while True:
        with store.transaction() as conn:
            pending = outbox.pending_texts(conn, max_ops)
            if not pending:
                return sealed
            count, payload = cut([text for _, text in pending], max_plain)
            batch = pending[:count]
            prev = bytes(conn.execute("SELECT chain_hash FROM identity WHERE id = 1").fetchone()[0])
            first, last = batch[0][0], batch[-1][0]
            blob = seal_segment(
                device_id=device_id,
                first_seq=first,
                last_seq=last,
                prev_hash=prev,
                op_count=len(batch),
                created_at=clock(),
                payload=payload,
                device_key=device_key,
                server_public_raw=server_public_raw,
            )
            digest = segment_hash(blob)
            conn.execute(
                "INSERT INTO segments (first_seq, last_seq, op_count, hash, prev_hash, bytes, plain_size,"
                " sealed_at) VALUES (?,?,?,?,?,?,?,?)",
                (first, last, len(batch), digest, prev, blob, len(payload), clock()),
            )
            conn.execute(
                "UPDATE outbox SET state = 'sealed', segment = ? WHERE seq BETWEEN ? AND ? AND state = 'pending'",
                (first, first, last),
            )
            conn.execute("UPDATE identity SET chain_hash = ? WHERE id = 1", (digest,))
            sealed += 1


def unsent(store: Store, now: int | None = None) -> list[SegmentRecord]:
    """Segments the server has not accepted yet, in order. With `now`, also those it accepted (held
    or queued) at least `RESEND_UNSETTLED_AFTER_S` ago whose ops still have no outcome: a queued copy
    can be lost before the night's ingest, and a held one can be skipped by a forced apply; the same
    bytes again are answered `resent`, held again, or applied (late) — never applied twice."""
    rows = store.all(
        "SELECT * FROM segments WHERE status IS NULL OR status NOT IN ('applied', 'resent', 'held', 'queued')"
        " OR (status IN ('held', 'queued') AND sent_at <= ? AND first_seq IN "
        "(SELECT segment FROM outbox WHERE state = 'sealed' AND segment IS NOT NULL)) ORDER BY first_seq",
        (-1 if now is None else now - RESEND_UNSETTLED_AFTER_S,),
    )
    return [_record(r) for r in rows]


def not_settled(store: Store) -> list[SegmentRecord]:
    """Segments whose outcomes have not all come back (for the offline hand-over)."""
    rows = store.all(
        "SELECT * FROM segments WHERE status IS NULL OR status NOT IN ('applied', 'resent') ORDER BY first_seq"
    )
    return [_record(r) for r in rows]


def record_receipt(
    conn: sqlite3.Connection, first_seq: int, receipt: dict[str, Any], now: int
) -> list[outbox.Settled]:
    """Store a receipt and the outcomes it carries. Returns the outcomes that changed an op."""
    conn.execute(
        "UPDATE segments SET status = ?, receipt = ?, sent_at = ?, error = NULL WHERE first_seq = ?",
        (str(receipt.get("status")), dumps(receipt), now, first_seq),
    )
    return outbox.record_outcomes(conn, receipt.get("outcomes") or [])


def record_error(store: Store, first_seq: int, code: str, now: int) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE segments SET error = ?, sent_at = ? WHERE first_seq = ?", (code, now, first_seq))


def unsent_bytes(store: Store) -> tuple[int, int]:
    """(segments, bytes) sealed but not yet accepted by the server."""
    row = store.one(
        "SELECT COUNT(*), COALESCE(SUM(LENGTH(bytes)), 0) FROM segments "
        "WHERE status IS NULL OR status NOT IN ('applied', 'resent', 'held', 'queued')"
    )
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


def settled_position(conn: sqlite3.Connection) -> int:
    """The last sequence number the server said it applied (0: none)."""
    row = conn.execute("SELECT MAX(last_seq) FROM segments WHERE status IN ('applied', 'resent')").fetchone()
    return int(row[0] or 0)


def reopen_after(conn: sqlite3.Connection, device_seq: int) -> set[str]:
    """The server's position for this device is `device_seq` and it no longer holds what came after
    (a restore): every retained segment past it goes back to unsent, to be sent again in order, its
    bytes unchanged, and its ops back to `sealed` until their new outcomes arrive. Returns the case
    ids whose ops went back (their local view is rebased)."""
    firsts = [
        int(row[0])
        for row in conn.execute(
            "SELECT first_seq FROM segments WHERE last_seq > ? AND status IS NOT NULL", (device_seq,)
        )
    ]
    if not firsts:
        return set()
    ids = json.dumps(firsts)
    conn.execute(
        "UPDATE segments SET status = NULL, receipt = NULL, error = NULL "
        "WHERE first_seq IN (SELECT value FROM json_each(?))",
        (ids,),
    )
    touched = {
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT case_id FROM outbox WHERE segment IN (SELECT value FROM json_each(?)) "
            "AND state NOT IN ('pending', 'sealed')",
            (ids,),
        )
    }
    conn.execute(
        "UPDATE outbox SET state = 'sealed', outcome = NULL "
        "WHERE segment IN (SELECT value FROM json_each(?)) AND state NOT IN ('pending', 'sealed')",
        (ids,),
    )
    return touched


def retention(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT segment_retention_s FROM server_life WHERE id = 1").fetchone()
    return RETENTION_S if row is None else int(row[0])


def set_retention(conn: sqlite3.Connection, seconds: int) -> None:
    conn.execute("UPDATE server_life SET segment_retention_s = ? WHERE id = 1", (max(0, int(seconds)),))


def prune(store: Store, now: int) -> int:
    """Drop segments the server accepted more than the retention period ago and whose ops all have
    their outcomes. Returns how many went."""
    with store.transaction() as conn:
        cursor = conn.execute(
            "DELETE FROM segments WHERE sent_at < ? AND status IN ('applied', 'resent', 'held', 'queued') "
            "AND first_seq NOT IN (SELECT segment FROM outbox WHERE state IN ('pending', 'sealed') "
            "AND segment IS NOT NULL)",
            (now - retention(conn),),
        )
        return int(cursor.rowcount)


def reseal_after_fork(conn: sqlite3.Connection, first_seq: int, resume: dict[str, Any] | None) -> int:
    """The server refused the segment starting at `first_seq` as a fork (`segment.fork`): it holds
    other content under those numbers. Its ops, those of every later segment the server has not
    accepted, and the pending ops go back to `pending` under new numbers from `resume["next_seq"]`,
    chained to `resume["prev_hash"]` (the server's word for where this device stands), in their
    order; op ids stay, so the server still applies each op at most once. The refused segments'
    bytes go: the server will never take them. Returns how many ops were renumbered (0: `resume`
    unusable, nothing changed)."""
    try:
        next_seq = int(str((resume or {})["next_seq"]))
        prev_hash = bytes.fromhex(str((resume or {})["prev_hash"]))
    except (KeyError, TypeError, ValueError):
        return 0
    if next_seq < 1 or len(prev_hash) != 32:
        return 0
    refused = [
        int(row[0])
        for row in conn.execute(
            "SELECT first_seq FROM segments WHERE first_seq >= ? AND (status IS NULL OR status NOT IN "
            "('applied', 'resent', 'held', 'queued')) ORDER BY first_seq",
            (first_seq,),
        )
    ]
    if not refused:
        return 0
    ids = json.dumps(refused)
    rows = conn.execute(
        "SELECT seq, op FROM outbox WHERE state = 'pending' OR (state = 'sealed' AND segment IN "
        "(SELECT value FROM json_each(?))) ORDER BY seq",
        (ids,),
    ).fetchall()
    conn.execute("DELETE FROM segments WHERE first_seq IN (SELECT value FROM json_each(?))", (ids,))
    # Two steps, so that no new number meets an old one still in place.
    conn.executemany("UPDATE outbox SET seq = -seq WHERE seq = ?", [(row[0],) for row in rows])
    for index, (seq, text) in enumerate(rows):
        op = json.loads(text)
        op["seq"] = next_seq + index
        conn.execute(
            "UPDATE outbox SET seq = ?, op = ?, state = 'pending', segment = NULL WHERE seq = ?",
            (next_seq + index, json.dumps(op, ensure_ascii=False, separators=(",", ":")), -seq),
        )
    conn.execute(
        "UPDATE identity SET next_seq = ?, chain_hash = ? WHERE id = 1", (next_seq + len(rows), prev_hash)
    )
    return len(rows)
