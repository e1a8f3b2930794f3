"""Versioned schema migrations for the SQLite store.

Each migration is a small registered function; `migrate` runs the ones not yet recorded in the
`migrations` table, each inside one transaction together with its record, so a crash mid-migration
leaves the database at the previous version. Never edit a released migration: add the next one.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from sync_server.store import incarnation
from sync_server.store.cells import cell_key
from sync_server.store.op_log import pack_id

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[tuple[int, str, Migration]] = []


def migration(version: int, name: str) -> Callable[[Migration], Migration]:
    def register(fn: Migration) -> Migration:
        MIGRATIONS.append((version, name, fn))
        return fn

    return register


@migration(1, "initial schema")
def _initial(db: sqlite3.Connection) -> None:
    for statement in _SCHEMA_V1.split(";\n"):
        if statement.strip():
            db.execute(statement)


_SCHEMA_V1 = """
CREATE TABLE workers (
    worker_id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, department TEXT,
    grids TEXT NOT NULL DEFAULT '[]', all_grids INTEGER NOT NULL DEFAULT 0);
CREATE TABLE devices (
    device_id TEXT PRIMARY KEY, worker_id TEXT NOT NULL REFERENCES workers(worker_id),
    signing_key BLOB NOT NULL, encryption_key BLOB NOT NULL, name TEXT NOT NULL,
    enrolled_at INTEGER NOT NULL, revoked_at INTEGER,
    last_seq INTEGER NOT NULL DEFAULT 0, last_hash BLOB NOT NULL);
CREATE TABLE enrollment_codes (
    code_hash TEXT PRIMARY KEY, worker_id TEXT NOT NULL REFERENCES workers(worker_id),
    expires_at INTEGER NOT NULL, used_at INTEGER);
CREATE TABLE cases (
    case_id TEXT PRIMARY KEY, case_no TEXT NOT NULL, status TEXT NOT NULL, category TEXT NOT NULL,
    grid_code TEXT NOT NULL, department TEXT, handler TEXT, reporter TEXT NOT NULL,
    lat REAL, lon REAL, reported_at INTEGER NOT NULL, closed_at INTEGER, deadline INTEGER,
    overdue INTEGER NOT NULL DEFAULT 0, open_conflicts INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL, change_seq INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE INDEX cases_change_seq ON cases(change_seq);
CREATE INDEX cases_case_no ON cases(case_no);
CREATE INDEX cases_duplicates ON cases(category, lat, lon);
CREATE INDEX cases_deadline ON cases(deadline) WHERE deadline IS NOT NULL AND overdue = 0;
CREATE INDEX cases_conflicts ON cases(open_conflicts) WHERE open_conflicts > 0;
CREATE TABLE photo_refs (
    sha256 TEXT NOT NULL, case_id TEXT NOT NULL, PRIMARY KEY (sha256, case_id)) WITHOUT ROWID;
CREATE TABLE outcomes (
    device_id TEXT NOT NULL, seq INTEGER NOT NULL, op_id TEXT NOT NULL, case_id TEXT NOT NULL,
    outcome TEXT NOT NULL, code TEXT, version INTEGER, detail TEXT NOT NULL,
    change_seq INTEGER NOT NULL, received_at INTEGER NOT NULL, applied_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, seq));
CREATE INDEX outcomes_feed ON outcomes(device_id, change_seq);
CREATE TABLE applied_segments (
    device_id TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
    hash BLOB NOT NULL, receipt TEXT NOT NULL, PRIMARY KEY (device_id, first_seq));
CREATE TABLE backlog (
    device_id TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
    hash BLOB NOT NULL, bytes BLOB NOT NULL, received_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, first_seq));
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY, device_id TEXT NOT NULL, first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL, hash BLOB NOT NULL, reason TEXT NOT NULL,
    received_at INTEGER NOT NULL, bytes BLOB NOT NULL);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY, op_id TEXT NOT NULL, actor TEXT NOT NULL, device_id TEXT NOT NULL,
    case_id TEXT NOT NULL, kind TEXT NOT NULL, outcome TEXT NOT NULL, code TEXT,
    received_at INTEGER NOT NULL, applied_at INTEGER NOT NULL, flags TEXT NOT NULL DEFAULT '');
CREATE INDEX audit_case ON audit(case_id);
CREATE TABLE nonces (
    device_id TEXT NOT NULL, nonce TEXT NOT NULL, ts INTEGER NOT NULL,
    PRIMARY KEY (device_id, nonce)) WITHOUT ROWID;
CREATE INDEX nonces_ts ON nonces(ts);
CREATE TABLE photos (
    sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, received INTEGER NOT NULL,
    complete INTEGER NOT NULL DEFAULT 0);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE catalogue_docs (name TEXT PRIMARY KEY, doc TEXT NOT NULL, updated INTEGER NOT NULL);
CREATE TABLE conflict_resolutions (
    case_id TEXT NOT NULL, conflict_id TEXT NOT NULL, choice TEXT NOT NULL, actor TEXT NOT NULL,
    at INTEGER NOT NULL, PRIMARY KEY (case_id, conflict_id))
"""


@migration(2, "one op log row per op; duplicate neighbourhood keys")
def _op_log_and_cells(db: sqlite3.Connection) -> None:
    """Outcomes and audit rows said the same thing twice per op: one `op_log` row now holds both
    (one insert per op instead of two). Cases get `near`, the duplicate rule's neighbourhood key
    (see `store.cells`), so a segment's candidates are one indexed query; the index covers every
    column the rule reads, so the query never reads a case's row (and its large document)."""
    for statement in _SCHEMA_V2.split(";\n"):
        if statement.strip():
            db.execute(statement)
    rows = db.execute("SELECT case_id, category, lat, lon FROM cases WHERE lat IS NOT NULL").fetchall()
    db.executemany(
        "UPDATE cases SET near = ? WHERE case_id = ?", [(cell_key(r[1], r[2], r[3]), r[0]) for r in rows]
    )


_SCHEMA_V2 = """
CREATE TABLE op_log (
    id INTEGER PRIMARY KEY, device_id TEXT NOT NULL, seq INTEGER NOT NULL, op_id TEXT NOT NULL,
    actor TEXT NOT NULL, case_id TEXT NOT NULL, kind TEXT NOT NULL, outcome TEXT NOT NULL, code TEXT,
    version INTEGER, detail TEXT NOT NULL, change_seq INTEGER NOT NULL, received_at INTEGER NOT NULL,
    applied_at INTEGER NOT NULL, flags TEXT NOT NULL DEFAULT '');
INSERT INTO op_log (device_id, seq, op_id, actor, case_id, kind, outcome, code, version, detail, change_seq,
    received_at, applied_at, flags)
    SELECT a.device_id, COALESCE(o.seq, 0), a.op_id, a.actor, a.case_id, a.kind, a.outcome, a.code, o.version,
    COALESCE(o.detail, ''), COALESCE(o.change_seq, 0), a.received_at, a.applied_at, a.flags
    FROM audit a LEFT JOIN outcomes o ON o.op_id = a.op_id AND o.device_id = a.device_id ORDER BY a.id;
CREATE INDEX op_log_feed ON op_log(device_id, change_seq);
CREATE INDEX op_log_case ON op_log(case_id);
DROP TABLE outcomes;
DROP TABLE audit;
ALTER TABLE cases ADD COLUMN near INTEGER;
DROP INDEX cases_duplicates;
CREATE INDEX cases_near ON cases(near, reported_at, case_id, category, status, lat, lon)
"""


@migration(3, "receipts read back from the op log; no op log index by case")
def _receipts_from_op_log(db: sqlite3.Connection) -> None:
    """A stored receipt repeated its segment's `op_log` rows word for word (about a sixth of the
    bytes a night writes). A segment applied from now on keeps the change numbers of its op rows
    (`first_change`, `last_change`) instead, and its receipt is read back from those rows; receipts
    stored before stay as they were (`receipt` is nullable now). SQLite cannot drop NOT NULL in
    place, so the table is copied.

    `op_log_case` goes: no query of the server's asks for a case's op log rows (a case's history is
    its document's timeline), and its random keys made every group commit rewrite most of its pages."""
    for statement in _SCHEMA_V3.split(";\n"):
        if statement.strip():
            db.execute(statement)


_SCHEMA_V3 = """
CREATE TABLE applied_segments_v3 (
    device_id TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
    hash BLOB NOT NULL, receipt TEXT, first_change INTEGER, last_change INTEGER,
    PRIMARY KEY (device_id, first_seq));
INSERT INTO applied_segments_v3 (device_id, first_seq, last_seq, hash, receipt)
    SELECT device_id, first_seq, last_seq, hash, receipt FROM applied_segments;
DROP TABLE applied_segments;
ALTER TABLE applied_segments_v3 RENAME TO applied_segments;
DROP INDEX op_log_case
"""


@migration(7, "public feed index; Open311 API keys and public texts")
def _public_feed(db: sqlite3.Connection) -> None:
    """Open311's `GET requests` filters by report time (and category, status, a box) newest first.
    `cases_public` covers every column those filters read, so a query walks index entries from the
    newest down and stops after its page; it reads a case's row (and its document) only for the
    cases it returns. `api_keys` holds the keys that may file requests (the secret's hash only);
    `public_texts` every edit a supervisor made to a case's public text, append-only."""
    for statement in _SCHEMA_V7.split(";\n"):
        if statement.strip():
            db.execute(statement)


_SCHEMA_V7 = """
CREATE INDEX IF NOT EXISTS cases_public ON cases(reported_at, case_id, category, status, lat, lon);
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL, name TEXT NOT NULL,
    rate_per_minute INTEGER NOT NULL, issued_at INTEGER NOT NULL, issued_by TEXT NOT NULL,
    revoked_at INTEGER, revoked_by TEXT);
CREATE TABLE IF NOT EXISTS public_texts (
    id INTEGER PRIMARY KEY, case_id TEXT NOT NULL, text TEXT NOT NULL, before TEXT,
    edited_by TEXT NOT NULL, edited_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS public_texts_case ON public_texts(case_id, id)
"""


@migration(4, "when the server first saw each segment not yet applied")
def _segments_seen(db: sqlite3.Connection) -> None:
    """The backlog's wait runs from when the server first saw a segment, on its own clock; the
    ingest took a spool file's modification time instead, which a copy can carry from any past.
    `segments_seen` records the first sight of each (device, first sequence number, hash) until the
    segment is applied; what the backlog holds was first seen when it was held."""
    for statement in _SCHEMA_V4.split(";\n"):
        if statement.strip():
            db.execute(statement)


_SCHEMA_V4 = """
CREATE TABLE segments_seen (
    device_id TEXT NOT NULL, first_seq INTEGER NOT NULL, hash BLOB NOT NULL, seen_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, first_seq, hash)) WITHOUT ROWID;
INSERT OR IGNORE INTO segments_seen (device_id, first_seq, hash, seen_at)
    SELECT device_id, first_seq, hash, received_at FROM backlog
"""


@migration(9, "photo uploader")
def _photo_uploader(db: sqlite3.Connection) -> None:
    """Which device began each blob's upload: only that device reads its upload status or adds to
    it, and a photo op from another device naming the blob is refused (`photo.foreign`). Blobs
    already stored have no recorded uploader (NULL): they keep the old, open behaviour."""
    db.execute("ALTER TABLE photos ADD COLUMN uploader TEXT")


@migration(6, "the admin audit")
def _admin_audit(db: sqlite3.Connection) -> None:
    """Every admin action (`gridsync-server admin …`), append-only: triggers refuse UPDATE and DELETE
    from any client of the file, and an INSERT OR REPLACE over an existing entry (whose REPLACE
    would delete it without firing a delete trigger)."""
    for statement in _SCHEMA_V6:
        db.execute(statement)


_APPEND_ONLY = "SELECT RAISE(ABORT, 'the admin audit is append-only')"
_SCHEMA_V6 = (
    "CREATE TABLE admin_audit (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, os_user TEXT NOT NULL, "
    "action TEXT NOT NULL, target TEXT NOT NULL, before TEXT NOT NULL DEFAULT 'null', "
    "after TEXT NOT NULL DEFAULT 'null')",
    "CREATE INDEX admin_audit_action ON admin_audit(action, at)",
    "CREATE INDEX admin_audit_target ON admin_audit(target, at)",
    "CREATE INDEX admin_audit_at ON admin_audit(at)",
    f"CREATE TRIGGER admin_audit_no_update BEFORE UPDATE ON admin_audit BEGIN {_APPEND_ONLY}; END",
    f"CREATE TRIGGER admin_audit_no_delete BEFORE DELETE ON admin_audit BEGIN {_APPEND_ONLY}; END",
    "CREATE TRIGGER admin_audit_no_replace BEFORE INSERT ON admin_audit "
    f"WHEN EXISTS (SELECT 1 FROM admin_audit WHERE id = NEW.id) BEGIN {_APPEND_ONLY}; END",
)


@migration(5, "the store's incarnation")
def _store_incarnation(db: sqlite3.Connection) -> None:
    """A random id for this life of the store, carried in every changes cursor and receipt; made
    again when the store comes back from a backup (see `store.incarnation`)."""
    incarnation.create(db)


@migration(12, "the changes feed by visibility")
def _feed_by_visibility(db: sqlite3.Connection) -> None:
    """A person's pull reads only the cases she may see (issue 13): the changes feed walked `cases` by
    change number over the whole city and filtered each row. These indexes hold each case's change
    number under what makes it visible — its grid and reporter (a worker), its department and
    handler (a handler) — so a pull reads her cases' index entries after the cursor and only the
    page's rows. Supervisors with every grid walk `cases_change_seq` as before."""
    for statement in _SCHEMA_V12:
        db.execute(statement)


_SCHEMA_V12 = (
    "CREATE INDEX IF NOT EXISTS cases_feed_grid ON cases(grid_code, change_seq)",
    "CREATE INDEX IF NOT EXISTS cases_feed_reporter ON cases(reporter, change_seq)",
    "CREATE INDEX IF NOT EXISTS cases_feed_department ON cases(department, change_seq) "
    "WHERE department IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS cases_feed_handler ON cases(handler, change_seq) WHERE handler IS NOT NULL",
)


@migration(15, "the op log in fewer bytes")
def _compact_op_log(db: sqlite3.Connection) -> None:
    """The op log is kept forever, one row per op: its row was ~158 bytes and its feed index's entry
    ~52 (issue 13). Op and case ids are stored as their 16 bytes, the actor and the device as small
    numbers (`op_log_names`; `device_id` stays as text beside `device_no`), `applied_at` as its
    difference from `received_at` (see `store.op_log`); `op_log_feed` is keyed by the device's number.
    `op_log_text` reads rows back as they were. The table is copied once, in id order."""
    db.create_function(
        "gridsync_pack_id", 1, lambda v: pack_id(v) if isinstance(v, str) else v, deterministic=True
    )
    for statement in _SCHEMA_V15.split(";\n"):
        if statement.strip():
            db.execute(statement)


_SCHEMA_V15 = """
CREATE TABLE op_log_names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
INSERT OR IGNORE INTO op_log_names (name) SELECT device_id FROM op_log UNION SELECT actor FROM op_log;
CREATE TABLE op_log_v15 (
    id INTEGER PRIMARY KEY, device_id TEXT NOT NULL, device_no INTEGER NOT NULL, seq INTEGER NOT NULL,
    op_id BLOB NOT NULL, actor_no INTEGER NOT NULL, case_id BLOB NOT NULL, kind TEXT NOT NULL,
    outcome TEXT NOT NULL, code TEXT, version INTEGER, detail TEXT NOT NULL, change_seq INTEGER NOT NULL,
    received_at INTEGER NOT NULL, waited INTEGER NOT NULL DEFAULT 0, flags TEXT NOT NULL DEFAULT '');
INSERT INTO op_log_v15 (id, device_id, device_no, seq, op_id, actor_no, case_id, kind, outcome, code, version,
    detail, change_seq, received_at, waited, flags)
    SELECT l.id, l.device_id, d.id, l.seq, gridsync_pack_id(l.op_id), a.id, gridsync_pack_id(l.case_id), l.kind,
    l.outcome, l.code, l.version, l.detail, l.change_seq, l.received_at, l.applied_at - l.received_at, l.flags
    FROM op_log AS l JOIN op_log_names AS d ON d.name = l.device_id JOIN op_log_names AS a ON a.name = l.actor
    ORDER BY l.id;
DROP TABLE op_log;
ALTER TABLE op_log_v15 RENAME TO op_log;
CREATE INDEX op_log_feed ON op_log(device_no, change_seq);
CREATE VIEW op_log_text AS SELECT l.id AS id, l.device_id AS device_id, l.seq AS seq,
    CASE WHEN typeof(l.op_id) = 'blob' THEN lower(hex(l.op_id)) ELSE l.op_id END AS op_id, a.name AS actor,
    CASE WHEN typeof(l.case_id) = 'blob' THEN lower(hex(l.case_id)) ELSE l.case_id END AS case_id,
    l.kind AS kind, l.outcome AS outcome, l.code AS code, l.version AS version, l.detail AS detail,
    l.change_seq AS change_seq, l.received_at AS received_at, l.received_at + l.waited AS applied_at,
    l.flags AS flags
    FROM op_log AS l JOIN op_log_names AS a ON a.id = l.actor_no
"""


@migration(16, "the duplicate index without case ids")
def _narrow_near(db: sqlite3.Connection) -> None:
    """`cases_near` held each case's id and category beside what the duplicate rule filters on: 85
    of its ~100 bytes per case went to columns read only for the few cases that pass the filter.
    Those two now come from the case's row, read for the passing entries only (SQLite seeks the row
    when a column the index lacks is first needed); the filter still reads index entries alone."""
    db.execute("DROP INDEX cases_near")
    db.execute("CREATE INDEX cases_near ON cases(near, reported_at, status, lat, lon)")


@migration(17, "the op log with no names as text")
def _op_log_by_number(db: sqlite3.Connection) -> None:
    """Each `op_log` row kept its device's id as text (~33 bytes, a third of the row) beside
    `device_no`, the same device by number, and its op's kind and outcome as words ("create",
    "applied": ~13 bytes). All three are now numbers in `op_log_names`, as the actor already was:
    `op_log_text` gives the words back by joins, and every read of the store names them there. The
    table is copied once, in id order, so its pages are full."""
    for statement in _SCHEMA_V17.split(";\n"):
        if statement.strip():
            db.execute(statement)


_SCHEMA_V17 = """
DROP VIEW op_log_text;
INSERT OR IGNORE INTO op_log_names (name) SELECT DISTINCT kind FROM op_log UNION SELECT DISTINCT outcome FROM op_log;
CREATE TABLE op_log_v17 (
    id INTEGER PRIMARY KEY, device_no INTEGER NOT NULL, seq INTEGER NOT NULL,
    op_id BLOB NOT NULL, actor_no INTEGER NOT NULL, case_id BLOB NOT NULL, kind_no INTEGER NOT NULL,
    outcome_no INTEGER NOT NULL, code TEXT, version INTEGER, detail TEXT NOT NULL, change_seq INTEGER NOT NULL,
    received_at INTEGER NOT NULL, waited INTEGER NOT NULL DEFAULT 0, flags TEXT NOT NULL DEFAULT '');
INSERT INTO op_log_v17 (id, device_no, seq, op_id, actor_no, case_id, kind_no, outcome_no, code, version, detail,
    change_seq, received_at, waited, flags)
    SELECT l.id, l.device_no, l.seq, l.op_id, l.actor_no, l.case_id, k.id, o.id, l.code, l.version, l.detail,
    l.change_seq, l.received_at, l.waited, l.flags
    FROM op_log AS l JOIN op_log_names AS k ON k.name = l.kind JOIN op_log_names AS o ON o.name = l.outcome
    ORDER BY l.id;
DROP TABLE op_log;
ALTER TABLE op_log_v17 RENAME TO op_log;
CREATE INDEX op_log_feed ON op_log(device_no, change_seq);
CREATE VIEW op_log_text AS SELECT l.id AS id, d.name AS device_id, l.seq AS seq,
    CASE WHEN typeof(l.op_id) = 'blob' THEN lower(hex(l.op_id)) ELSE l.op_id END AS op_id, a.name AS actor,
    CASE WHEN typeof(l.case_id) = 'blob' THEN lower(hex(l.case_id)) ELSE l.case_id END AS case_id,
    k.name AS kind, o.name AS outcome, l.code AS code, l.version AS version, l.detail AS detail,
    l.change_seq AS change_seq, l.received_at AS received_at, l.received_at + l.waited AS applied_at,
    l.flags AS flags
    FROM op_log AS l JOIN op_log_names AS d ON d.id = l.device_no JOIN op_log_names AS a ON a.id = l.actor_no
    JOIN op_log_names AS k ON k.id = l.kind_no JOIN op_log_names AS o ON o.id = l.outcome_no
"""


def current_version(db: sqlite3.Connection) -> int:
    db.execute(
        "CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "applied_at INTEGER NOT NULL)"
    )
    row = db.execute("SELECT MAX(version) FROM migrations").fetchone()
    return int(row[0] or 0)


def migrate(db: sqlite3.Connection) -> int:
    """Bring the schema up to date: run, in number order, every migration not yet recorded (numbers
    are handed out ahead of time, so 4 may come after 7 has run); returns the highest version
    recorded. `db` is in autocommit mode."""
    version = current_version(db)
    done = {int(row[0]) for row in db.execute("SELECT version FROM migrations")}
    for number, name, fn in sorted(MIGRATIONS, key=lambda m: m[0]):
        if number in done:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            fn(db)
            db.execute(
                "INSERT INTO migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (number, name, int(time.time())),
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        version = max(version, number)
    return version
