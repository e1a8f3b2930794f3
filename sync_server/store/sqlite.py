"""The SQLite store (the default): one database file in the data directory, WAL mode.

Every thread gets its own connection (the API runs sync routes in a thread pool); WAL lets readers
run beside the one writer, and writers queue on `BEGIN IMMEDIATE` with a busy timeout instead of
failing. Connections are in autocommit mode: transactions are explicit.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import weakref
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shared.errors import GridsyncError
from shared.model import ENDED, Case
from sync_server.file_modes import create_private_file
from sync_server.store import incarnation
from sync_server.store.base import (
    NONCE_PURGE_EVERY_S,
    AdminAction,
    ApiKeyRecord,
    AuditRow,
    CaseChange,
    ChangeScope,
    DeviceRecord,
    OutcomeChange,
    OutcomeRow,
    PhotoRecord,
    PublicCaseQuery,
    PublicTextEdit,
    QuarantineRecord,
    Transaction,
    WorkerRecord,
)
from sync_server.store.case_text import unpack
from sync_server.store.migrations import migrate
from sync_server.store.op_log import (
    AUDIT_COLUMNS,
    FEED_COLUMNS,
    OF_DEVICE,
    OUTCOME_COLUMNS,
    audit_row,
    feed_outcome,
    outcome_row,
    pack_id,
)
from sync_server.store.sqlite_tx import SqliteTransaction, dump_json, load_case

BUSY_TIMEOUT_MS = 30_000
# A connection's page cache. The ingest's one writer keeps 64 MiB; `serve` opens one connection per
# API thread and passes a smaller share (`sqlite_cache_kib`), so threads × cache bounds its memory.
DEFAULT_CACHE_KIB = 64 * 1024
#: the page size of a new store's file
PAGE_SIZE = 8192
#: how much WAL a connection lets grow before it checkpoints (see `_db`)
WAL_CHECKPOINT_BYTES = 256 * 1024 * 1024
_DEVICE_COLUMNS = (
    "device_id, worker_id, signing_key, encryption_key, name, enrolled_at, revoked_at, last_seq, last_hash"
)
_API_KEY_COLUMNS = "key_id, secret_hash, name, rate_per_minute, issued_at, issued_by, revoked_at, revoked_by"


def _worker(row: Any) -> WorkerRecord:
    return WorkerRecord(row[0], row[1], row[2], row[3], tuple(json.loads(row[4])), bool(row[5]))


def _device(row: Any) -> DeviceRecord:
    return DeviceRecord(
        row[0], row[1], bytes(row[2]), bytes(row[3]), row[4], row[5], row[6], row[7], bytes(row[8])
    )


class _ThreadConnection:
    """A thread's connection, closed when the thread's local storage goes. The API's worker threads
    come and go (anyio retires a thread idle for 10 s): a connection kept past its thread would hold
    its file descriptors and page cache until the server stopped."""

    __slots__ = ("__weakref__", "db")

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        weakref.finalize(self, db.close)


class SqliteStore:
    """Implements `store.base.Store`. Open with `SqliteStore(path)`; the schema is migrated at once."""

    kind = "sqlite"

    def __init__(self, path: Path | str, *, cache_kib: int = DEFAULT_CACHE_KIB) -> None:
        self.path = str(path)
        self.cache_kib = cache_kib
        self._local = threading.local()
        self._all: weakref.WeakSet[_ThreadConnection] = weakref.WeakSet()
        self._lock = threading.Lock()
        # Writers of this process queue here, not in SQLite: SQLite's busy handler polls with sleeps
        # of up to 100 ms, so forty API threads waiting on `BEGIN IMMEDIATE` left the write lock idle
        # most of the time. Other processes (another worker, the ingest) still meet the busy handler.
        self._writer = threading.RLock()
        self._nonces_purged = 0  # the `forget_before` of this process's last purge of nonces
        if self.path != ":memory:" and Path(self.path).parent.is_dir():
            # 0600 before SQLite makes it 0644: its WAL and shared-memory files take the database's mode
            create_private_file(Path(self.path))
        migrate(self._db())
        self._incarnation = incarnation.settle(self._db())

    def _db(self) -> sqlite3.Connection:
        held: _ThreadConnection | None = getattr(self._local, "held", None)
        if held is None:
            db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
            )
            # A new file's pages are 8 KiB (a store made before keeps its size: SQLite sets it only
            # on an empty file). A `cases` row is 600-900 bytes: a 4 KiB page left a larger share
            # unused at its end (an 8 KiB page: ~2% fewer bytes per op in the bench, issue 13).
            db.execute(f"PRAGMA page_size={PAGE_SIZE}")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            db.execute(f"PRAGMA cache_size=-{int(self.cache_kib)}")
            db.execute("PRAGMA mmap_size=0")  # no mapped pages beside the bounded cache
            db.execute("PRAGMA temp_store=MEMORY")
            # Checkpoints (which fsync) every ~256 MiB of WAL rather than every 4 MiB: a night's
            # ingest rewrites the same hot pages (indexes, counters, a device's cases) many times
            # between them, and a checkpoint copies each page once however often it was rewritten
            # (the 1M-op bench night spent 15.5 s committing with checkpoints every 64 MiB, 12.3 s
            # every 256 MiB). The file is cut back to 64 MiB once a checkpoint has emptied it. SQLite
            # counts in pages: 256 MiB is 32,768 pages of a new store, 65,536 of an older one.
            page_size = int(db.execute("PRAGMA page_size").fetchone()[0])
            db.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_BYTES // page_size}")
            db.execute(f"PRAGMA journal_size_limit={64 * 1024 * 1024}")
            # the points a segment's creates ask about (see SqliteTransaction.duplicate_candidates)
            db.execute(
                "CREATE TEMP TABLE IF NOT EXISTS near_asked (point INTEGER, key INTEGER, lat REAL, lon REAL, "
                "lon_scale REAL)"
            )
            held = self._local.held = _ThreadConnection(db)
            with self._lock:
                self._all.add(held)
        return held.db

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        db = self._db()
        if getattr(self._local, "grouped", False):  # inside `group()`: a savepoint of the group's
            yield from self._savepoint(db)
            return
        with self._writer:
            self._begin(db)
            try:
                yield SqliteTransaction(db)
            except sqlite3.OperationalError as exc:  # disk full, read-only, I/O: a refusal, not a crash
                _rollback(db)
                raise storage_refusal(exc) from exc
            except BaseException:
                _rollback(db)
                raise
            self._commit(db)

    @contextmanager
    def group(self) -> Iterator[None]:
        db = self._db()
        if getattr(self._local, "grouped", False):
            raise RuntimeError("groups do not nest")
        with self._writer:
            self._begin(db)
            self._local.grouped = True
            try:
                yield
            except BaseException:
                self._local.grouped = False
                # Every transaction inside released or rolled back its own savepoint: what is
                # released is whole, so keep it. (An error that made SQLite roll back leaves
                # nothing to commit.)
                if db.in_transaction:
                    try:
                        db.execute("COMMIT")
                    except sqlite3.Error:
                        if db.in_transaction:
                            db.execute("ROLLBACK")
                raise
            self._local.grouped = False
            self._commit(db)

    @staticmethod
    def _savepoint(db: sqlite3.Connection) -> Iterator[Transaction]:
        db.execute("SAVEPOINT tx")
        try:
            yield SqliteTransaction(db)
        except BaseException as exc:
            if db.in_transaction:  # SQLite may have rolled back the whole group itself (SQLITE_FULL)
                db.execute("ROLLBACK TO tx")
                db.execute("RELEASE tx")
            if isinstance(exc, sqlite3.OperationalError):
                raise storage_refusal(exc) from exc
            raise
        db.execute("RELEASE tx")

    @staticmethod
    def _begin(db: sqlite3.Connection) -> None:
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise storage_refusal(exc) from exc

    @staticmethod
    def _commit(db: sqlite3.Connection) -> None:
        try:
            db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            _rollback(db)
            raise storage_refusal(exc) from exc

    def close(self) -> None:
        with self._lock:
            for held in list(self._all):
                held.db.close()
            self._all.clear()
        self._local = threading.local()

    def incarnation(self) -> str:
        """This life of the store (see `store.incarnation`): fixed while it is open."""
        return self._incarnation

    def connections(self) -> int:
        """Connections open now: one per live thread that used the store."""
        with self._lock:
            return len(self._all)

    def backup(self, dest: Path) -> None:
        """SQLite's online backup, in one step: it reads under one read transaction of a connection
        of its own, so the copy is the database as last committed when it starts (never this thread's
        open transaction or group), and WAL lets writers carry on meanwhile. The copy is written
        beside `dest`, checked, synced, then renamed into place; it is a single file (journal mode
        DELETE), opened like any store."""
        dest = Path(dest)
        if dest.exists():
            raise ValueError(f"{dest} exists: a backup never overwrites a file")
        if dest.resolve() == Path(self.path).resolve():
            raise ValueError("a backup cannot overwrite the store itself")
        partial = dest.with_name(f".{dest.name}.partial")
        partial.unlink(missing_ok=True)
        source = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        create_private_file(partial)  # a backup holds every photo key too: 0600 from the start
        copy = sqlite3.connect(partial, isolation_level=None)
        try:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")
            incarnation.mark_as_backup(copy)  # opened as a store, the copy takes a new incarnation
            problem = copy.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise sqlite3.DatabaseError(f"the copy failed its check: {problem}")
        except BaseException:
            copy.close()
            partial.unlink(missing_ok=True)
            raise
        finally:
            source.close()
        copy.close()
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        os.replace(partial, dest)

    def change_notices(self) -> None:
        """None: SQLite has no channel between processes; the changes bell reads the counter."""
        return None

    def claim_nonce(self, device_id: str, nonce: str, ts: int, forget_before: int) -> bool:
        """One autocommit upsert, queued behind this process's writers (`_writer`) as transactions
        are; SQLite's write lock, held for that statement, keeps it once across processes."""
        db = self._db()
        try:
            with self._writer:
                if forget_before - self._nonces_purged >= NONCE_PURGE_EVERY_S:
                    self._nonces_purged = forget_before
                    db.execute("DELETE FROM nonces WHERE ts < ?", (forget_before,))
                cursor = db.execute(CLAIM_NONCE, (device_id, nonce, ts, forget_before))
        except sqlite3.OperationalError as exc:
            raise storage_refusal(exc) from exc
        return cursor.rowcount == 1

    # --- reads ------------------------------------------------------------------------------------
    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        return self._db().execute(sql, args).fetchone()

    def _all_rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        return self._db().execute(sql, args).fetchall()

    def worker(self, worker_id: str) -> WorkerRecord | None:
        row = self._one(
            "SELECT worker_id, name, role, department, grids, all_grids FROM workers WHERE worker_id = ?",
            (worker_id,),
        )
        return None if row is None else _worker(row)

    def workers(self) -> list[WorkerRecord]:
        rows = self._all_rows(
            "SELECT worker_id, name, role, department, grids, all_grids FROM workers ORDER BY 1"
        )
        return [_worker(r) for r in rows]

    def device(self, device_id: str) -> DeviceRecord | None:
        row = self._one(f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE device_id = ?", (device_id,))
        return None if row is None else _device(row)

    def devices(self) -> list[DeviceRecord]:
        return [
            _device(r) for r in self._all_rows(f"SELECT {_DEVICE_COLUMNS} FROM devices ORDER BY enrolled_at")
        ]

    def case(self, case_id: str) -> Case | None:
        row = self._one("SELECT doc FROM cases WHERE case_id = ?", (case_id,))
        return None if row is None else load_case(row[0])

    def case_by_number(self, case_no: str) -> Case | None:
        row = self._one("SELECT doc FROM cases WHERE case_no = ?", (case_no,))
        return None if row is None else load_case(row[0])

    def cases(self) -> Iterator[Case]:
        # A cursor of its own, read lazily: a report over millions of cases stays in bounded memory.
        cursor = self._db().execute("SELECT doc FROM cases ORDER BY reported_at")
        for row in cursor:
            yield load_case(row[0])

    def public_cases(self, query: PublicCaseQuery) -> list[Case]:
        where, args = _public_filter(query)
        # The inner query walks `cases_public` (migration 7) newest first and stops after its page;
        # only the page's rows are then read for their documents.
        rows = self._all_rows(
            "SELECT doc FROM cases WHERE case_id IN ("
            f"SELECT case_id FROM cases WHERE {where} ORDER BY reported_at DESC, case_id DESC LIMIT ? OFFSET ?"
            ") ORDER BY reported_at DESC, case_id DESC",
            (*args, query.limit, query.offset),
        )
        return [load_case(r[0]) for r in rows]

    def public_texts(self, case_ids: Collection[str]) -> dict[str, str]:
        rows = self._all_rows(
            "SELECT case_id, text FROM public_texts WHERE id IN (SELECT MAX(id) FROM public_texts "
            "WHERE case_id IN (SELECT value FROM json_each(?)) GROUP BY case_id)",
            (dump_json(list(case_ids)),),
        )
        return {r[0]: r[1] for r in rows}

    def public_text_edits(self, case_id: str | None = None) -> list[PublicTextEdit]:
        sql = "SELECT case_id, text, before, edited_by, edited_at FROM public_texts"
        rows = (
            self._all_rows(sql + " WHERE case_id = ? ORDER BY id", (case_id,))
            if case_id
            else self._all_rows(sql + " ORDER BY id")
        )
        return [PublicTextEdit(*r) for r in rows]

    def api_key(self, key_id: str) -> ApiKeyRecord | None:
        row = self._one(f"SELECT {_API_KEY_COLUMNS} FROM api_keys WHERE key_id = ?", (key_id,))
        return None if row is None else ApiKeyRecord(*row)

    def api_keys(self) -> list[ApiKeyRecord]:
        return [
            ApiKeyRecord(*r)
            for r in self._all_rows(f"SELECT {_API_KEY_COLUMNS} FROM api_keys ORDER BY issued_at")
        ]

    def cases_with_open_conflicts(self) -> list[Case]:
        return [load_case(r[0]) for r in self._all_rows("SELECT doc FROM cases WHERE open_conflicts > 0")]

    def cases_holding_photo(self, sha256: str) -> list[Case]:
        rows = self._all_rows(
            "SELECT doc FROM cases WHERE case_id IN (SELECT case_id FROM photo_refs WHERE sha256 = ?)",
            (sha256,),
        )
        return [load_case(r[0]) for r in rows]

    def change_seq(self) -> int:
        row = self._one("SELECT value FROM counters WHERE name = 'change_seq'")
        return 0 if row is None else int(row[0])

    def changed_cases(self, cursor: int, limit: int, scope: ChangeScope) -> list[CaseChange]:
        """The first `limit` cases `scope` may see with a change number above `cursor`, in change
        order. Everything: a walk of `cases_change_seq`. Otherwise each visibility key (a grid, the
        reporter; a department, the handler) is read on its own index (migration 12) from the cursor
        on — index entries only — and just the page's `limit` rows are read: a worker's pull costs
        her cases, not the city's."""
        columns = "change_seq, doc, case_id, category, reporter, status, grid_code, department, handler"
        if scope.everything:
            sql = f"SELECT {columns} FROM cases WHERE change_seq > ? ORDER BY change_seq LIMIT ?"
            rows = self._all_rows(sql, (cursor, limit))
        else:
            keys, args = _scope_keys(scope, cursor)
            sql = (
                f"SELECT {columns} FROM cases WHERE rowid IN (SELECT rid FROM ({keys}) ORDER BY seq LIMIT ?) "
                "ORDER BY change_seq"
            )
            rows = self._all_rows(sql, (*args, limit))
        return [CaseChange(int(r[0]), _visibility(r[2:]), unpack(r[1])) for r in rows]

    def device_outcomes(self, device_id: str, cursor: int, limit: int) -> list[OutcomeChange]:
        rows = self._all_rows(
            f"SELECT {FEED_COLUMNS} FROM op_log WHERE {OF_DEVICE} AND change_seq > ? ORDER BY change_seq LIMIT ?",
            (device_id, cursor, limit),
        )
        return [feed_outcome(r) for r in rows]

    def outcomes_of(self, device_id: str, first_seq: int, last_seq: int) -> list[OutcomeRow]:
        rows = self._all_rows(
            f"SELECT {OUTCOME_COLUMNS} FROM op_log WHERE {OF_DEVICE} AND seq BETWEEN ? AND ? AND seq > 0 "
            "ORDER BY seq",
            (device_id, first_seq, last_seq),
        )
        return [outcome_row(r) for r in rows]

    def catalogue_doc(self, name: str) -> Any | None:
        row = self._one("SELECT doc FROM catalogue_docs WHERE name = ?", (name,))
        return None if row is None else json.loads(row[0])

    def catalogue_version(self) -> int:
        row = self._one("SELECT value FROM counters WHERE name = 'catalogue_version'")
        return 0 if row is None else int(row[0])

    def photo(self, sha256: str) -> PhotoRecord | None:
        row = self._one(
            "SELECT sha256, size, received, complete, uploader FROM photos WHERE sha256 = ?", (sha256,)
        )
        return None if row is None else PhotoRecord(row[0], row[1], row[2], bool(row[3]), row[4])

    def has_held(self, device_id: str) -> bool:
        return self._one("SELECT 1 FROM backlog WHERE device_id = ? LIMIT 1", (device_id,)) is not None

    def backlog_devices(self, received_before: int) -> list[str]:
        rows = self._all_rows(
            "SELECT DISTINCT device_id FROM backlog WHERE received_at < ? ORDER BY device_id",
            (received_before,),
        )
        return [r[0] for r in rows]

    def backlog_size(self) -> int:
        return int(self._one("SELECT COUNT(*) FROM backlog")[0])

    def open_conflict_count(self) -> int:
        return int(self._one("SELECT COUNT(*) FROM cases WHERE open_conflicts > 0")[0])

    def overdue_count(self) -> int:
        ended = sorted(str(s) for s in ENDED)
        marks = ", ".join("?" * len(ended))
        sql = f"SELECT COUNT(*) FROM cases WHERE overdue = 1 AND status NOT IN ({marks})"
        return int(self._one(sql, tuple(ended))[0])

    def size_bytes(self) -> int:
        pages, size = self._one("SELECT page_count, page_size FROM pragma_page_count(), pragma_page_size()")
        return int(pages) * int(size)

    def quarantined(self) -> list[QuarantineRecord]:
        rows = self._all_rows(
            "SELECT device_id, first_seq, last_seq, hash, reason, received_at FROM quarantine ORDER BY id"
        )
        return [QuarantineRecord(r[0], r[1], r[2], bytes(r[3]), r[4], r[5]) for r in rows]

    def admin_actions(
        self, *, action: str | None = None, target: str | None = None, since: int | None = None,
        until: int | None = None,
    ) -> list[AdminAction]:  # fmt: skip
        rows = self._all_rows(
            "SELECT id, at, os_user, action, target, before, after FROM admin_audit "
            "WHERE (?1 IS NULL OR action = ?1) AND (?2 IS NULL OR target = ?2) AND (?3 IS NULL OR at >= ?3) "
            "AND (?4 IS NULL OR at < ?4) ORDER BY id",
            (action, target, since, until),
        )
        return [AdminAction(r[3], r[4], json.loads(r[5]), json.loads(r[6]), r[1], r[2], r[0]) for r in rows]

    def audit_rows(self, case_id: str | None = None) -> list[AuditRow]:
        sql = f"SELECT {AUDIT_COLUMNS} FROM op_log AS l JOIN op_log_names AS a ON a.id = l.actor_no"
        rows = (
            self._all_rows(sql + " WHERE l.case_id = ? ORDER BY l.id", (pack_id(case_id),))
            if case_id
            else self._all_rows(sql + " ORDER BY l.id")
        )
        return [audit_row(r) for r in rows]


def _scope_keys(scope: ChangeScope, cursor: int) -> tuple[str, tuple[Any, ...]]:
    """(rowid `rid`, change number `seq`) of every case a person may see past `cursor` (mirrors
    `shared.rules.can_see`), each branch on its visibility index (migration 12); a case matched by
    two branches is one row (UNION)."""
    if scope.department is not None or scope.handler is not None:
        return (
            "SELECT rowid AS rid, change_seq AS seq FROM cases WHERE department = ? AND change_seq > ? "
            "UNION SELECT rowid, change_seq FROM cases WHERE handler = ? AND change_seq > ?",
            (scope.department, cursor, scope.handler, cursor),
        )
    return (
        "SELECT c.rowid AS rid, c.change_seq AS seq FROM json_each(?) AS g "
        "JOIN cases AS c ON c.grid_code = g.value AND c.change_seq > ? "
        "UNION SELECT rowid, change_seq FROM cases WHERE reporter = ? AND change_seq > ?",
        (dump_json(list(scope.grids)), cursor, scope.reporter, cursor),
    )


def _public_filter(query: PublicCaseQuery) -> tuple[str, tuple[Any, ...]]:
    where: list[str] = ["reported_at BETWEEN ? AND ?"]
    args: list[Any] = [query.start, query.end]
    if query.categories is not None:
        where.append("category IN (SELECT value FROM json_each(?))")
        args.append(dump_json(sorted(query.categories)))
    if query.statuses is not None:
        where.append("status IN (SELECT value FROM json_each(?))")
        args.append(dump_json(sorted(query.statuses)))
    if query.bbox is not None:
        min_lon, min_lat, max_lon, max_lat = query.bbox
        where.append("lon BETWEEN ? AND ? AND lat BETWEEN ? AND ?")
        args += [min_lon, max_lon, min_lat, max_lat]
    return " AND ".join(where), tuple(args)


# A nonce is claimed when it is new, or stored but expired (its timestamp before `forget_before`,
# whether or not a purge has removed it yet).
CLAIM_NONCE = (
    "INSERT INTO nonces (device_id, nonce, ts) VALUES (?, ?, ?) "
    "ON CONFLICT (device_id, nonce) DO UPDATE SET ts = excluded.ts WHERE nonces.ts < ?"
)


def storage_refusal(exc: Exception) -> GridsyncError:
    """A database that cannot write is a clear refusal: full (507) or unavailable (503)."""
    text = str(exc)
    code = "server.storage_full" if "full" in text or "No space" in text else "server.unavailable"
    return GridsyncError(code, text)


def _rollback(db: sqlite3.Connection) -> None:
    # After SQLITE_FULL and some I/O errors SQLite has already rolled back; a second ROLLBACK fails.
    if db.in_transaction:
        db.execute("ROLLBACK")


def _visibility(r: Any) -> Case:
    """Just what `shared.rules.can_see` reads: case id, category, reporter, status, grid, department,
    handler (the changes feed sends the stored document itself)."""
    return Case(
        case_id=r[0], category=r[1], reporter=r[2], status=r[3], grid_code=r[4], department=r[5], handler=r[6]
    )
