"""`gridsync-server admin restore BACKUP`: put a backup in place of the store, as a new incarnation.

Order of work, so a crash at any point leaves either the old store or the restored one, whole:
check the backup → lock the live store (refused while `serve` or `ingest` has it open) → copy the
live store aside (`gridsync.db.before-restore-…`, never overwritten) → stage a copy of the backup
beside the store, migrate it, give it a new incarnation, sync it → fold the live store's WAL into
its file (journal mode DELETE, so no WAL is left to be applied to the wrong file) → rename the
staged copy over the store. The backup file itself is never changed.

What the restored store lacks, the phones still hold: they see the new incarnation in their next
receipt or changes page, pull from zero, and resend their retained segments past the server's
position (docs/protocol.md, "Restore").
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync_server.store import incarnation
from sync_server.store.migrations import migrate


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """What a restore did, for the operator and the audit trail."""

    backup: Path
    incarnation: str  # the restored store's new incarnation
    backup_of: str | None  # the incarnation the backup was copied from (None: unknown)
    replaced: str | None  # the live store's incarnation before the restore (None: there was none)
    set_aside: Path | None  # the live store as it was, kept beside it
    change_seq: int  # the restored store's change counter

    def to_dict(self) -> dict[str, Any]:
        return {
            "backup": str(self.backup),
            "incarnation": self.incarnation,
            "backup_of": self.backup_of,
            "replaced": self.replaced,
            "set_aside": None if self.set_aside is None else str(self.set_aside),
            "change_seq": self.change_seq,
        }


def _check_backup(backup: Path) -> str | None:
    """The backup's source incarnation; ValueError when it is not a whole gridsync store."""
    if not backup.is_file():
        raise ValueError(f"{backup} is not a file")
    try:
        db = sqlite3.connect(f"{backup.resolve().as_uri()}?mode=ro", uri=True)
        try:
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise ValueError(f"{backup} failed its check: it is damaged")
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"migrations", "cases", "devices", "counters"} <= tables:
                raise ValueError(f"{backup} is not a gridsync store")
            if "store_meta" not in tables:
                return None
            row = db.execute(
                "SELECT value FROM store_meta WHERE name IN ('backup_of', 'incarnation') "
                "ORDER BY name = 'backup_of' DESC LIMIT 1"
            ).fetchone()
            return None if row is None else str(row[0])
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"{backup} is not a readable SQLite database: {exc}") from None


def _lock_live(db_path: Path) -> sqlite3.Connection:
    """An exclusive hold on the live store: refused while any other connection has it open (a WAL
    reader holds its shared-memory lock while idle, so an idle `serve` counts)."""
    live = sqlite3.connect(db_path, isolation_level=None, timeout=0)
    try:
        live.execute("PRAGMA locking_mode=EXCLUSIVE")
        live.execute("BEGIN EXCLUSIVE")
        live.execute("COMMIT")  # the lock stays: EXCLUSIVE locking mode keeps it until close
    except sqlite3.OperationalError:
        live.close()
        raise ValueError(
            f"{db_path} is open in another process: stop `serve` and any `ingest` first"
        ) from None
    return live


def _aside_path(db_path: Path, now: int) -> Path:
    stamp = f"{now:d}"
    candidate = db_path.with_name(f"{db_path.name}.before-restore-{stamp}")
    n = 1
    while candidate.exists():
        n += 1
        candidate = db_path.with_name(f"{db_path.name}.before-restore-{stamp}-{n}")
    return candidate


def _fsync(path: Path) -> None:
    with open(path, "rb") as written:
        os.fsync(written.fileno())


def _stage(backup: Path, staged: Path, backup_of: str | None) -> tuple[str, int]:
    shutil.copyfile(backup, staged)
    db = sqlite3.connect(staged, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=DELETE")
        migrate(db)
        incarnation.ensure(db)
        fresh = incarnation.renew(db, backup_of)
        row = db.execute("SELECT value FROM counters WHERE name = 'change_seq'").fetchone()
    finally:
        db.close()
    _fsync(staged)
    return fresh, 0 if row is None else int(row[0])


def restore_backup(db_path: Path, backup: Path, now: int) -> RestoreResult:
    """Install `backup` as the store at `db_path` under a new incarnation (see the module doc).
    Raises ValueError, changing nothing, when the backup is unusable or the store is open."""
    db_path, backup = Path(db_path), Path(backup)
    if backup.exists() and db_path.exists() and backup.resolve() == db_path.resolve():
        raise ValueError("the backup is the store itself")
    backup_of = _check_backup(backup)
    staged = db_path.with_name(f".{db_path.name}.restoring")
    staged.unlink(missing_ok=True)
    live = _lock_live(db_path) if db_path.exists() else None
    try:
        replaced = aside = None
        if live is not None:
            replaced = _meta(live)
            aside = _aside_path(db_path, now)
            copy = sqlite3.connect(aside, isolation_level=None)
            try:
                live.backup(copy)
            finally:
                copy.close()
            _fsync(aside)
        try:
            fresh, change_seq = _stage(backup, staged, backup_of)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        if live is not None:
            live.execute("PRAGMA journal_mode=DELETE")  # the WAL folded into the file and removed
        for leftover in ("-wal", "-shm"):  # never let an old WAL meet the new file
            db_path.with_name(db_path.name + leftover).unlink(missing_ok=True)
        os.replace(staged, db_path)
    finally:
        if live is not None:
            live.close()
    return RestoreResult(backup, fresh, backup_of, replaced, aside, change_seq)


def _meta(db: sqlite3.Connection) -> str | None:
    try:
        return incarnation.read(db)
    except sqlite3.OperationalError:  # a store older than migration 5
        return None
