"""The local store's schema, as numbered migrations recorded in `schema_migrations`.

Each migration is a small function run inside one transaction together with the row that records it,
so a phone killed during an upgrade either has the new schema and its record, or neither. Migrations
are only ever appended: a released number never changes meaning.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

Migration = tuple[int, str, Callable[[sqlite3.Connection], None]]


def _initial(conn: sqlite3.Connection) -> None:
    statements = [
        # One row: who this phone is, who it talks to, and where it stands in the sync protocol.
        """CREATE TABLE identity (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            device_id TEXT NOT NULL,
            worker_id TEXT NOT NULL,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            grids TEXT NOT NULL,
            department TEXT,
            all_grids INTEGER NOT NULL DEFAULT 0,
            server_url TEXT NOT NULL,
            server_signing_key BLOB NOT NULL,
            server_encryption_key BLOB NOT NULL,
            server_key_id TEXT NOT NULL,
            apply_mode TEXT NOT NULL DEFAULT 'now',
            enrolled_at INTEGER NOT NULL,
            cursor INTEGER NOT NULL DEFAULT 0,
            next_seq INTEGER NOT NULL DEFAULT 1,
            chain_hash BLOB NOT NULL,
            clock_offset INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE TABLE server_cases (case_id TEXT PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL)",
        """CREATE TABLE local_cases (
            case_id TEXT PRIMARY KEY,
            version INTEGER NOT NULL,
            status TEXT NOT NULL,
            reporter TEXT NOT NULL,
            handler TEXT,
            department TEXT,
            grid_code TEXT NOT NULL,
            category TEXT NOT NULL,
            reported_at INTEGER NOT NULL,
            search TEXT NOT NULL,
            doc TEXT NOT NULL
        )""",
        "CREATE INDEX local_cases_status ON local_cases (status)",
        "CREATE INDEX local_cases_reporter ON local_cases (reporter)",
        """CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY,
            op_id TEXT NOT NULL UNIQUE,
            case_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            op TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'sealed', 'applied', 'rejected', 'conflict')),
            segment INTEGER,
            outcome TEXT,
            created_at INTEGER NOT NULL
        )""",
        "CREATE INDEX outbox_case ON outbox (case_id, seq)",
        "CREATE INDEX outbox_state ON outbox (state)",
        """CREATE TABLE segments (
            first_seq INTEGER PRIMARY KEY,
            last_seq INTEGER NOT NULL,
            op_count INTEGER NOT NULL,
            hash BLOB NOT NULL,
            prev_hash BLOB NOT NULL,
            bytes BLOB NOT NULL,
            plain_size INTEGER NOT NULL,
            sealed_at INTEGER NOT NULL,
            sent_at INTEGER,
            status TEXT,
            receipt TEXT,
            error TEXT
        )""",
        """CREATE TABLE photos (
            sha256 TEXT PRIMARY KEY,
            photo_id TEXT NOT NULL,
            case_id TEXT NOT NULL,
            stage TEXT NOT NULL,
            blob_path TEXT,
            thumb_path TEXT,
            key TEXT NOT NULL,
            size INTEGER NOT NULL,
            uploaded INTEGER NOT NULL DEFAULT 0,
            complete INTEGER NOT NULL DEFAULT 0,
            origin TEXT NOT NULL CHECK (origin IN ('local', 'server')),
            error TEXT
        )""",
        "CREATE INDEX photos_upload ON photos (origin, complete)",
        "CREATE TABLE categories (code TEXT PRIMARY KEY, doc TEXT NOT NULL)",
        "CREATE TABLE departments (code TEXT PRIMARY KEY, doc TEXT NOT NULL)",
        "CREATE TABLE grids (code TEXT PRIMARY KEY, doc TEXT NOT NULL)",
        "CREATE TABLE calendar (id INTEGER PRIMARY KEY CHECK (id = 1), doc TEXT NOT NULL)",
        "CREATE TABLE recent_categories (code TEXT PRIMARY KEY, used_at INTEGER NOT NULL, uses INTEGER NOT NULL)",
        """CREATE TABLE sync_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at INTEGER NOT NULL,
            finished_at INTEGER NOT NULL,
            ok INTEGER NOT NULL,
            report TEXT NOT NULL
        )""",
    ]
    for sql in statements:
        conn.execute(sql)


def _server_incarnation(conn: sqlite3.Connection) -> None:
    """Which life of the server's store this phone's cursor and receipts belong to (a restore from
    a backup starts a new one), how long settled segments are kept for a resend after a restore,
    and the server copies a pull from zero must replace (see `mobile/core/incarnation.py`)."""
    conn.execute(
        """CREATE TABLE server_life (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            incarnation TEXT,
            resyncing INTEGER NOT NULL DEFAULT 0,
            segment_retention_s INTEGER NOT NULL DEFAULT 2592000
        )"""
    )
    conn.execute("INSERT INTO server_life (id) VALUES (1)")
    conn.execute("CREATE TABLE stale_cases (case_id TEXT PRIMARY KEY) WITHOUT ROWID")


def _people(conn: sqlite3.Connection) -> None:
    """Who is who (mobile/core/people.py): names by worker id, and when they were fetched."""
    conn.execute(
        "CREATE TABLE people (worker_id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,"
        " fetched_at INTEGER NOT NULL) WITHOUT ROWID"
    )
    conn.execute("CREATE TABLE people_fetched (id INTEGER PRIMARY KEY CHECK (id = 1), at INTEGER NOT NULL)")


MIGRATIONS: list[Migration] = [
    (1, "initial schema", _initial),
    (2, "server incarnation, segment retention", _server_incarnation),
    (5, "people by name", _people),
]


def migrate(conn: sqlite3.Connection, now: int) -> list[int]:
    """Run every migration not yet recorded, each in its own transaction. Returns the numbers run.

    `conn` must be in autocommit mode (isolation_level None): transactions here are explicit.
    """
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    ran = []
    for version, name, step in MIGRATIONS:
        if version in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            step(conn)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", (version, name, now))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        ran.append(version)
    return ran
