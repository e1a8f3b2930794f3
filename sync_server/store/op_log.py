"""How the SQLite store keeps its op log on disk (store migration 15): one row per op, kept forever, so
each byte of a row is paid a million times a night.

- `op_id` and `case_id` are 32 lowercase hex digits (`uuid4().hex`): stored as their 16 bytes
  (`pack_id`); any other text is stored as it is. The two forms never compare equal (a BLOB is never
  a TEXT in SQLite), so a lookup by the packed form finds exactly the rows of that id.
- The actor (a worker id) is a small number in `op_log_names`; so is the device, as `device_no`,
  the key of the changes feed's index `op_log_feed` (device_no, change_seq), and, since migration 17,
  the op's kind and outcome (`kind_no`, `outcome_no`): the row holds none of these words as text.
  A tool reading the file reads `op_log_text`.
- `applied_at` is kept as `waited`, its difference from `received_at`: nothing when the op was
  applied the second it arrived (SQLite stores the integers 0 and 1 in no bytes).

The view `op_log_text` reads every row back in the columns and values of the op log as it was
(and as PostgreSQL keeps it); `migrate-store` copies from it. `op_log_names` only grows: a name's
number never changes.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Collection
from typing import Any

from sync_server.store.base import AuditRow, OutcomeChange, OutcomeRow

_HEX32 = re.compile(r"[0-9a-f]{32}")


def _name(number: str) -> str:
    """SQL for the name in `op_log_names` of the number in column `number`."""
    return f"(SELECT name FROM op_log_names WHERE id = {number})"


# The columns of an `OutcomeRow`, as stored (`outcome_row` reads them back).
OUTCOME_COLUMNS = (
    f"{_name('device_no')}, seq, op_id, case_id, {_name('outcome_no')}, code, version, detail, change_seq, "
    "received_at, received_at + waited"
)
# The columns of an `AuditRow`, as stored; `a` is the actor's `op_log_names` row.
AUDIT_COLUMNS = (
    f"l.op_id, a.name, {_name('l.device_no')}, l.case_id, {_name('l.kind_no')}, {_name('l.outcome_no')}, "
    "l.code, l.received_at, l.received_at + l.waited, l.flags"
)
# The columns of an outcome in a receipt (`Outcome`'s fields, then the flags), as stored.
RECEIPT_COLUMNS = f"op_id, seq, case_id, {_name('outcome_no')}, code, version, detail, flags"
# The columns of an outcome in the changes feed (`Outcome`'s fields, then the change number), as stored.
FEED_COLUMNS = f"op_id, seq, case_id, {_name('outcome_no')}, code, version, detail, change_seq"
# The rows of one device: its number is looked up once, then `op_log_feed` is walked.
OF_DEVICE = "device_no = (SELECT id FROM op_log_names WHERE name = ?)"


def pack_id(text: str) -> str | bytes:
    """The stored form of an op or case id: 16 bytes for 32 lowercase hex digits, else the text."""
    return bytes.fromhex(text) if len(text) == 32 and _HEX32.fullmatch(text) else text


def text_id(stored: str | bytes) -> str:
    """The id as it was given to `pack_id`."""
    return stored.hex() if isinstance(stored, bytes) else stored


def name_numbers(db: sqlite3.Connection, names: Collection[str]) -> dict[str, int]:
    """Each name's number in `op_log_names`, numbering the new ones. Looked up in the caller's
    transaction every time, never cached: a number handed out in a transaction that then rolls
    back is handed out again to another name."""
    wanted = sorted(names)
    marks = ", ".join("?" * len(wanted))
    found = dict(db.execute(f"SELECT name, id FROM op_log_names WHERE name IN ({marks})", wanted).fetchall())
    if len(found) < len(wanted):
        db.executemany(
            "INSERT OR IGNORE INTO op_log_names (name) VALUES (?)", [(n,) for n in wanted if n not in found]
        )
        found = dict(
            db.execute(f"SELECT name, id FROM op_log_names WHERE name IN ({marks})", wanted).fetchall()
        )
    return found


def outcome_row(row: Any) -> OutcomeRow:
    """An `OutcomeRow` from the stored `OUTCOME_COLUMNS`."""
    return OutcomeRow(row[0], row[1], text_id(row[2]), text_id(row[3]), *row[4:])


def feed_outcome(row: Any) -> OutcomeChange:
    """An outcome of the changes feed from the stored `FEED_COLUMNS`: `OutcomeRow.to_dict()` made
    straight from the row (a device's pull after its push reads hundreds, each an `OutcomeRow` before)."""
    return OutcomeChange(
        row[7],
        {"op_id": text_id(row[0]), "seq": row[1], "case_id": text_id(row[2]), "outcome": row[3], "code": row[4],
         "version": row[5], "detail": row[6]},
    )  # fmt: skip


def audit_row(row: Any) -> AuditRow:
    """An `AuditRow` from the stored `AUDIT_COLUMNS`."""
    return AuditRow(text_id(row[0]), row[1], row[2], text_id(row[3]), *row[4:])
