"""The phone's local SQLite database: one file in the app's data folder, WAL, migrated on open.

Every write goes through `Store.transaction()`, and every user action is exactly one transaction: the
op enters the outbox and the local view changes together, or neither does. Reads and writes are
serialised by one lock, so the Flet UI thread, the sync loop and tests can share a `Store`.

The SQL of the store lives here and in the small query modules beside it (`outbox.py`,
`casebook.py`, `photo_records.py`); nothing above them writes SQL.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from mobile.core.identity import Identity, ServerKeys
from mobile.core.migrations import migrate
from shared.catalogue import (
    Category,
    Department,
    GridCell,
    category_from_dict,
    category_to_dict,
    department_from_dict,
    department_to_dict,
    grid_from_dict,
    grid_to_dict,
)
from shared.worktime import WorkCalendar, calendar_from_dict

DB_NAME = "gridsync.db"
DATA_ENV = "FLET_APP_STORAGE_DATA"


def default_data_dir(given: Path | None = None) -> Path:
    """The app data folder: the one given, else Flet's `FLET_APP_STORAGE_DATA`."""
    if given is not None:
        return Path(given)
    env = os.environ.get(DATA_ENV)
    if not env:
        raise ValueError(f"no data folder given and {DATA_ENV} is not set")
    return Path(env)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


#: a sync round that reached the server and finished without a problem (SyncReport as JSON)
_GOOD_ROUND = "ok = 1 AND json_extract(report, '$.reached_server') = 1"


class Store:
    """One open database. Use `transaction()` for writes and `read()` for consistent reads."""

    def __init__(self, folder: Path, now: int) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / DB_NAME
        conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        conn.row_factory = sqlite3.Row
        self.db = sqlite_utils.Database(conn)
        self.db.enable_wal()
        # FULL: a report saved is a report kept, even across a power cut (WAL fsyncs at each commit).
        conn.execute("PRAGMA synchronous=FULL")
        # Checkpoint every ~16 MiB of WAL rather than SQLite's 4 MiB: a catch-up writes tens of MB,
        # and each checkpoint copies and fsyncs the database (a third of a catch-up's writing time).
        conn.execute("PRAGMA wal_autocheckpoint=4096")
        conn.execute("PRAGMA foreign_keys=ON")
        self.conn = conn
        self._lock = threading.RLock()
        self._depth = 0
        with self._lock:
            migrate(conn, now)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT; any exception rolls everything back. Nested uses join the outer
        transaction. Never `await` inside one: a transaction must not span a suspension point."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.conn
                finally:
                    self._depth -= 1
                return
            self.conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self.conn
            except BaseException:
                self._depth = 0
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            self._depth = 0
            self.conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self.conn

    def one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
            return row

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self.conn.execute(sql, params).fetchall())

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database and truncate it to nothing
        (`wal_checkpoint(TRUNCATE)`), so that a phone at rest carries its data once, not its data
        and up to `wal_autocheckpoint` pages of log besides. Safe at any moment outside a
        transaction: what is committed stays committed whether the copy finishes or not (SQLite
        redoes it from the log), and if another connection were reading, SQLite would leave the log
        as it is (no error) for the next time. Costs a copy of the pages written since the last one."""
        with self._lock:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    # --- identity ---------------------------------------------------------------------------------

    def identity(self) -> Identity | None:
        row = self.one("SELECT * FROM identity WHERE id = 1")
        if row is None:
            return None
        return Identity(
            device_id=row["device_id"],
            worker_id=row["worker_id"],
            name=row["name"],
            role=row["role"],
            grids=tuple(json.loads(row["grids"])),
            department=row["department"],
            server_url=row["server_url"],
            all_grids=bool(row["all_grids"]),
        )

    def server_keys(self) -> ServerKeys | None:
        row = self.one("SELECT server_signing_key, server_encryption_key, server_key_id FROM identity")
        if row is None:
            return None
        return ServerKeys(bytes(row[0]), bytes(row[1]), row[2])

    def set_server_encryption_key(self, conn: sqlite3.Connection, raw: bytes) -> None:
        """The server rotated its encryption key: seal new segments to this one."""
        conn.execute("UPDATE identity SET server_encryption_key = ?", (raw,))

    def save_identity(
        self,
        conn: sqlite3.Connection,
        identity: Identity,
        keys: ServerKeys,
        *,
        apply_mode: str,
        now: int,
        genesis: bytes,
    ) -> None:
        conn.execute("DELETE FROM identity")
        conn.execute(
            "INSERT INTO identity (id, device_id, worker_id, name, role, grids, department, all_grids,"
            " server_url, server_signing_key, server_encryption_key, server_key_id, apply_mode,"
            " enrolled_at, cursor, next_seq, chain_hash) VALUES (1,?,?,?,?,?,?,?,?,?,?,?,?,?,0,1,?)",
            (
                identity.device_id,
                identity.worker_id,
                identity.name,
                identity.role,
                dumps(list(identity.grids)),
                identity.department,
                int(identity.all_grids),
                identity.server_url,
                keys.signing,
                keys.encryption,
                keys.signing_key_id,
                apply_mode,
                now,
                genesis,
            ),
        )

    def state(self, column: str) -> Any:
        """One protocol counter of the identity row: cursor, next_seq, chain_hash, clock_offset."""
        if column not in ("cursor", "next_seq", "chain_hash", "clock_offset"):
            raise ValueError(column)
        row = self.one(f"SELECT {column} FROM identity WHERE id = 1")
        return None if row is None else row[0]

    def set_state(self, conn: sqlite3.Connection, column: str, value: Any) -> None:
        if column not in ("cursor", "next_seq", "chain_hash", "clock_offset"):
            raise ValueError(column)
        conn.execute(f"UPDATE identity SET {column} = ? WHERE id = 1", (value,))

    # --- the city's catalogue, as downloaded at enrollment -----------------------------------------

    def save_catalogue(
        self,
        conn: sqlite3.Connection,
        categories: Sequence[Category],
        departments: Sequence[Department],
        grids: Sequence[GridCell],
        calendar: dict[str, Any] | None,
    ) -> None:
        for table in ("categories", "departments", "grids", "calendar"):
            conn.execute(f"DELETE FROM {table}")
        conn.executemany(
            "INSERT INTO categories VALUES (?, ?)", [(c.code, dumps(category_to_dict(c))) for c in categories]
        )
        conn.executemany(
            "INSERT INTO departments VALUES (?, ?)",
            [(d.code, dumps(department_to_dict(d))) for d in departments],
        )
        conn.executemany("INSERT INTO grids VALUES (?, ?)", [(g.code, dumps(grid_to_dict(g))) for g in grids])
        if calendar is not None:
            conn.execute("INSERT INTO calendar VALUES (1, ?)", (dumps(calendar),))

    def categories(self) -> list[Category]:
        return [
            category_from_dict(json.loads(r[0])) for r in self.all("SELECT doc FROM categories ORDER BY code")
        ]

    def departments(self) -> list[Department]:
        return [
            department_from_dict(json.loads(r[0]))
            for r in self.all("SELECT doc FROM departments ORDER BY code")
        ]

    def grids(self) -> list[GridCell]:
        return [grid_from_dict(json.loads(r[0])) for r in self.all("SELECT doc FROM grids ORDER BY code")]

    def calendar(self) -> WorkCalendar | None:
        row = self.one("SELECT doc FROM calendar WHERE id = 1")
        return None if row is None else calendar_from_dict(json.loads(row[0]))

    def touch_category(self, conn: sqlite3.Connection, code: str, now: int) -> None:
        conn.execute(
            # used_at only ranks: it moves past the last use so two reports in one second keep order.
            "INSERT INTO recent_categories VALUES (?, MAX(?, COALESCE((SELECT MAX(used_at) FROM "
            "recent_categories), 0) + 1), 1) ON CONFLICT (code) DO UPDATE SET used_at = excluded.used_at, "
            "uses = uses + 1",
            (code, now),
        )

    def recent_category_codes(self, n: int) -> list[str]:
        rows = self.all("SELECT code FROM recent_categories ORDER BY used_at DESC, uses DESC LIMIT ?", (n,))
        return [r[0] for r in rows]

    # --- the sync log -------------------------------------------------------------------------------

    def log_sync(self, started_at: int, finished_at: int, ok: bool, report: dict[str, Any]) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO sync_log (started_at, finished_at, ok, report) VALUES (?, ?, ?, ?)",
                (started_at, finished_at, int(ok), dumps(report)),
            )
            # Keep the log small: a phone syncs every few minutes for months. The last round that
            # reached the server stays, however many failed rounds came after it.
            conn.execute(
                f"DELETE FROM sync_log WHERE id <= (SELECT MAX(id) FROM sync_log) - 200 "
                f"AND id IS NOT (SELECT MAX(id) FROM sync_log WHERE {_GOOD_ROUND})"
            )

    def last_sync(self) -> dict[str, Any] | None:
        row = self.one("SELECT report FROM sync_log ORDER BY id DESC LIMIT 1")
        return None if row is None else dict(json.loads(row[0]))

    def last_good_sync(self) -> dict[str, Any] | None:
        """The last round that reached the server and finished without a problem."""
        row = self.one(f"SELECT report FROM sync_log WHERE {_GOOD_ROUND} ORDER BY id DESC LIMIT 1")
        return None if row is None else dict(json.loads(row[0]))

    def wipe(self) -> None:
        """Forget everything this phone holds (sign-out). The schema stays."""
        with self.transaction() as conn:
            for table in (
                "identity",
                "server_cases",
                "local_cases",
                "outbox",
                "segments",
                "photos",
                "categories",
                "departments",
                "grids",
                "calendar",
                "recent_categories",
                "sync_log",
                "people",
                "people_fetched",
            ):
                conn.execute(f"DELETE FROM {table}")
