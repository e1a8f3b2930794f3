"""What a server's store holds, read straight from its SQLite file, in forms two runs can compare.

- `digest`: every row that matters (cases, op outcomes, applied segments, backlog, device positions,
  counters). Equal digests mean nothing was written: the hostile tests compare before
  and after each refused input.
- `canonical_cases`: each case's content without what legitimately depends on arrival order across
  devices or on the wall clock (case numbers, change numbers, duplicate suggestions, apply times).
  Two servers that applied the same per-device streams in any interleaving hold equal canonical
  cases: the fault tests compare a killed-and-restarted server with a never-killed one.
- `problems`: a list of what breaks "nothing lost, nothing twice, nothing stuck".
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from sync_server.store import DATABASE_FILE
from sync_server.store.case_text import unpack

# The op rows: one `op_log` row per op since store migration 2, read through the view `op_log_text`
# since migration 15 (the row holds ids packed, names by number); `outcomes` + `audit` before 2.
_OPS_V15 = "SELECT device_id, seq, op_id, outcome, code, version FROM op_log_text"
_OPS_V2 = "SELECT device_id, seq, op_id, outcome, code, version FROM op_log"
_OPS_V1 = "SELECT device_id, seq, op_id, outcome, code, version FROM outcomes"


def _ops_query(db: sqlite3.Connection) -> str:
    names = {
        r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE name IN ('op_log', 'op_log_text')")
    }
    return _OPS_V15 if "op_log_text" in names else _OPS_V2 if "op_log" in names else _OPS_V1


def _digest_queries(db: sqlite3.Connection) -> tuple[str, ...]:
    return (
        "SELECT case_id, version, change_seq, doc FROM cases ORDER BY case_id",
        f"{_ops_query(db)} ORDER BY device_id, seq, op_id",
        "SELECT device_id, first_seq, last_seq, hash FROM applied_segments ORDER BY device_id, first_seq",
        "SELECT device_id, first_seq, hash FROM backlog ORDER BY device_id, first_seq",
        "SELECT device_id, last_seq, last_hash, revoked_at FROM devices ORDER BY device_id",
        "SELECT name, value FROM counters ORDER BY name",
    )


def connect(data_dir: Path) -> sqlite3.Connection:
    """A read-only connection (it never takes the writer's lock, never creates the file)."""
    return sqlite3.connect(f"file:{data_dir / DATABASE_FILE}?mode=ro", uri=True, timeout=30)


def digest(data_dir: Path) -> str:
    db = connect(data_dir)
    try:
        h = hashlib.sha256()
        for query in _digest_queries(db):
            for row in db.execute(query):
                h.update(repr(row).encode())
            h.update(b"|")
        return h.hexdigest()
    finally:
        db.close()


def _canonical(doc: dict[str, Any]) -> dict[str, Any]:
    for key in ("case_no", "possible_duplicates", "reported_at", "closed_at", "deadline", "overdue"):
        doc.pop(key, None)
    doc["timeline"] = [
        {k: v for k, v in entry.items() if k not in ("at",)} for entry in doc.get("timeline", [])
    ]
    return doc


def canonical_cases(data_dir: Path) -> dict[str, dict[str, Any]]:
    db = connect(data_dir)
    try:
        return {
            row[0]: _canonical(json.loads(unpack(row[1])))
            for row in db.execute("SELECT case_id, doc FROM cases")
        }
    finally:
        db.close()


def counts(data_dir: Path) -> dict[str, int]:
    db = connect(data_dir)
    try:
        found = {
            table: int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            for table in ("cases", "applied_segments", "backlog", "quarantine")
        }
        found["ops"] = int(db.execute(f"SELECT COUNT(*) FROM ({_ops_query(db)})").fetchone()[0])
        return found
    finally:
        db.close()


def problems(data_dir: Path, expected_ops: dict[str, int], *, quarantined: int = 0) -> list[str]:
    """Everything wrong with the store, given how many ops each device sent (device id → last seq)
    and how many segments were meant to be quarantined."""
    db = connect(data_dir)
    found: list[str] = []
    try:
        for device_id, last in expected_ops.items():
            row = db.execute("SELECT last_seq FROM devices WHERE device_id = ?", (device_id,)).fetchone()
            if row is None or row[0] != last:
                found.append(f"device {device_id[:8]} stands at seq {row and row[0]}, sent {last}")
            n, lo, hi = db.execute(
                f"SELECT COUNT(*), MIN(seq), MAX(seq) FROM ({_ops_query(db)}) WHERE device_id = ?",
                (device_id,),
            ).fetchone()
            if last and (n, lo, hi) != (last, 1, last):
                found.append(f"device {device_id[:8]}: {n} outcomes for seqs {lo}..{hi}, expected 1..{last}")
        twice = db.execute(
            f"SELECT op_id, COUNT(*) FROM ({_ops_query(db)}) GROUP BY op_id HAVING COUNT(*) > 1 LIMIT 5"
        ).fetchall()
        found += [f"op {op_id[:8]} applied {n} times" for op_id, n in twice]
        for table, allowed in (("backlog", 0), ("quarantine", quarantined)):
            n = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            if n != allowed:
                found.append(f"{n} segments in {table}, expected {allowed}")
        for case_id, doc in db.execute("SELECT case_id, doc FROM cases"):
            ids = [t["op_id"] for t in json.loads(unpack(doc))["timeline"]]
            if len(ids) != len(set(ids)):
                found.append(f"case {case_id[:8]} has an op twice in its timeline")
    finally:
        db.close()
    return found
