"""The store's incarnation: which life of the database a phone's cursor and receipts belong to.

A restore from a backup takes the change counter and every device's position back in time. Change
numbers and positions are only comparable within one incarnation, so the store carries a random id,
made when the store is created (migration 5) and made again whenever it comes back from a backup:

- `admin restore BACKUP` installs a copy of the backup under a new incarnation (`restore.py`);
- a backup file copied over `gridsync.db` by hand is noticed when the store opens: every file written
  by `Store.backup` carries a `backup_of` mark (the incarnation it was copied from), and a store that
  opens with that mark takes a new incarnation and drops the mark (`settle`).

A copy made any other way (a file copy of a stopped store, a disk snapshot) carries no mark: install
it with `admin restore`, which gives any file a new incarnation.
"""

from __future__ import annotations

import secrets
import sqlite3

TABLE = "store_meta"


def new_incarnation() -> str:
    return secrets.token_hex(16)


def create(db: sqlite3.Connection) -> None:
    """Migration 5: the table and a first incarnation (inside the migration's transaction)."""
    db.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute(f"INSERT OR IGNORE INTO {TABLE} VALUES ('incarnation', ?)", (new_incarnation(),))


def read(db: sqlite3.Connection, name: str = "incarnation") -> str | None:
    row = db.execute(f"SELECT value FROM {TABLE} WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row[0])


def _put(db: sqlite3.Connection, name: str, value: str) -> None:
    db.execute(
        f"INSERT INTO {TABLE} VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (name, value),
    )


def mark_as_backup(copy: sqlite3.Connection) -> None:
    """Called on the fresh copy a backup writes (never on the live store)."""
    source = read(copy)
    if source is not None:
        _put(copy, "backup_of", source)


def renew(db: sqlite3.Connection, restored_from: str | None) -> str:
    """A new incarnation for a store that came back from a backup; `db` is in autocommit mode.
    Remembers which incarnation the backup was a copy of. Returns the new incarnation."""
    fresh = new_incarnation()
    db.execute("BEGIN IMMEDIATE")
    try:
        _put(db, "incarnation", fresh)
        _put(db, "restored_from", restored_from or "")
        db.execute(f"DELETE FROM {TABLE} WHERE name = 'backup_of'")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return fresh


def settle(db: sqlite3.Connection) -> str:
    """The store's incarnation as it opens: a new one if this file is a backup copied in by hand."""
    ensure(db)
    copied_from = read(db, "backup_of")
    if copied_from is not None:
        return renew(db, copied_from)
    current = read(db)
    if current is None:
        raise RuntimeError("the store has no incarnation: migrate it first")
    return current


def ensure(db: sqlite3.Connection) -> None:
    """Migration 5 for a store that recorded a later migration before 5 existed (`migrate` skips
    numbers below the highest recorded one): the same idempotent step, in its own transaction."""
    if db.execute(f"SELECT 1 FROM sqlite_master WHERE name = '{TABLE}'").fetchone() is not None:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        create(db)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
