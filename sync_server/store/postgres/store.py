"""The PostgreSQL store: `PgStore(url)`, chosen by a `postgresql://` database URL.

A `psycopg_pool.ConnectionPool` per process; each connection works in the schema `gridsync`
(`schema.migrations`) in autocommit mode, so a read outside a transaction is one statement and
takes no lock, and `transaction()` is an explicit `BEGIN … COMMIT` on one pooled connection. What
keeps several processes correct is named in `tx.py` (row locks, advisory locks, unique constraints);
this module holds no lock that matters between processes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncGenerator, Callable, Collection, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg_pool import ConnectionPool

from shared.errors import GridsyncError
from shared.model import ENDED, Case
from sync_server.store.base import (
    NONCE_PURGE_EVERY_S,
    AdminAction,
    ApiKeyRecord,
    AuditRow,
    BackupElsewhere,
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
from sync_server.store.incarnation import new_incarnation
from sync_server.store.postgres.errors import RETRY_LATER, storage_refusal
from sync_server.store.postgres.notify import listen_for_changes
from sync_server.store.postgres.schema.migrations import SCHEMA, migrate
from sync_server.store.postgres.tx import PgTransaction, worker_of
from sync_server.store.sqlite_tx import load_case

# pg_advisory_xact_lock key of the incarnation check at open (the others: tx.py, schema/migrations.py)
INCARNATION_LOCK = 0x67726964_0003
DEFAULT_POOL_SIZE = 20
POOL_TIMEOUT_S = 10.0
_DEVICE_COLUMNS = (
    "device_id, worker_id, signing_key, encryption_key, name, enrolled_at, revoked_at, last_seq, last_hash"
)
_OUTCOME_COLUMNS = (
    "device_id, seq, op_id, case_id, outcome, code, version, detail, change_seq, received_at, applied_at"
)
_API_KEY_COLUMNS = "key_id, secret_hash, name, rate_per_minute, issued_at, issued_by, revoked_at, revoked_by"
_AUDIT_COLUMNS = "op_id, actor, device_id, case_id, kind, outcome, code, received_at, applied_at, flags"
_CASES_BATCH = 500


def _device(row: Any) -> DeviceRecord:
    return DeviceRecord(
        row[0], row[1], bytes(row[2]), bytes(row[3]), row[4], row[5], row[6], row[7], bytes(row[8])
    )


def open_postgres_url(url: str, cache_kib: int) -> PgStore:
    """`store.open_store`'s opener for `postgresql://` URLs. `?pool_size=N` in the URL sets the
    connections this process may hold (default `DEFAULT_POOL_SIZE`); the rest of the URL is libpq's.
    (`cache_kib` is SQLite's page cache: PostgreSQL's cache is the server's shared_buffers.)"""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    sizes = [value for key, value in query if key == "pool_size"]
    if sizes and not (sizes[-1].isdigit() and 0 < int(sizes[-1]) <= 1000):
        raise ValueError(f"pool_size={sizes[-1]!r}: a number of connections, 1..1000")
    rest = urlunsplit(parts._replace(query=urlencode([(k, v) for k, v in query if k != "pool_size"])))
    return PgStore(rest, pool_size=int(sizes[-1]) if sizes else DEFAULT_POOL_SIZE)


def connect(url: str) -> psycopg.Connection[Any]:
    """One connection of the store's kind (autocommit, the store's schema first on the path)."""
    db = psycopg.connect(url, autocommit=True)
    _configure(db)
    return db


def _configure(db: psycopg.Connection[Any]) -> None:
    """Every connection of the store (the pool's `configure`, `connect`, the one that opens it).

    `plan_cache_mode = force_custom_plan`: a statement psycopg has prepared (from its sixth run) is
    still planned with its own parameters every time. Left to itself, PostgreSQL would switch it to
    a generic plan and keep that for the connection's life — costed on the tables as they were then,
    which for a new store is empty and never analyzed: `load_cases` then read all of `cases` for
    every segment, a cost growing with the table (docs/performance.md). Chosen over not preparing
    at all (`prepare_threshold = None`), which fixes the plans too but parses every statement again,
    each row of an `executemany` included: 120 µs of PostgreSQL CPU per op against 84 µs here.
    Behind a transaction-pooling PgBouncer the role carries both settings instead (docs/server.md,
    "Running a city on PostgreSQL")."""
    db.execute(f"SET search_path TO {SCHEMA}, public")  # type: ignore[call-overload]
    db.execute("SET plan_cache_mode = force_custom_plan")


class PgStore:
    """Implements `store.base.Store` over PostgreSQL. Opening migrates the schema (once, whatever
    the number of processes opening it at once) and settles the incarnation."""

    kind = "postgresql"

    def __init__(self, url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        self.url = url
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=10) as db:
                migrate(db)
                _configure(db)
                self._incarnation = _settle_incarnation(db)
        except psycopg.OperationalError as exc:  # said to the operator starting a command, in full
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise GridsyncError("server.unavailable", f"cannot open the PostgreSQL store: {reason}") from exc
        self.pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url,
            min_size=1,
            max_size=max(1, pool_size),
            kwargs={"autocommit": True},
            configure=_configure,
            check=ConnectionPool.check_connection,  # a connection the database dropped is replaced
            timeout=POOL_TIMEOUT_S,
            open=True,
            name="gridsync",
        )
        self._local = threading.local()
        self._nonces_purged = 0  # the `forget_before` of this process's last purge of nonces

    # --- connections, transactions, groups ------------------------------------------------------
    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        held: psycopg.Connection[Any] | None = getattr(self._local, "group", None)
        if held is not None:  # inside `group()`: its connection (a read sees the group's writes)
            yield held
            return
        try:
            with self.pool.connection() as db:
                yield db
        except RETRY_LATER as exc:
            raise storage_refusal(exc) from exc

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        held: psycopg.Connection[Any] | None = getattr(self._local, "group", None)
        try:
            if held is not None:  # a savepoint of the group's transaction
                with held.transaction():
                    yield PgTransaction(held)
                return
            with self.pool.connection() as db, db.transaction():
                yield PgTransaction(db)
        except RETRY_LATER as exc:
            raise storage_refusal(exc) from exc

    @contextmanager
    def group(self) -> Iterator[None]:
        """One database transaction; each `transaction()` inside is a savepoint. Left by an
        exception, the savepoints that completed commit (what completed is whole)."""
        if getattr(self._local, "group", None) is not None:
            raise RuntimeError("groups do not nest")
        try:
            with self.pool.connection() as db:
                db.execute("BEGIN")
                self._local.group = db
                try:
                    yield
                except BaseException:
                    self._local.group = None
                    if db.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                        db.execute("ROLLBACK")
                    else:
                        db.execute("COMMIT")
                    raise
                self._local.group = None
                db.execute("COMMIT")
        except RETRY_LATER as exc:
            raise storage_refusal(exc) from exc
        finally:
            self._local.group = None

    def close(self) -> None:
        self.pool.close()

    def incarnation(self) -> str:
        return self._incarnation

    def backup(self, dest: Path) -> None:
        """PostgreSQL is backed up by its own tools (docs/server.md, "Running a city on PostgreSQL"):
        `pg_dump --format=custom --schema=gridsync`, or base backups with WAL archiving for
        point-in-time recovery. A store restored either way takes a new incarnation when it opens
        (`_settle_incarnation`)."""
        raise BackupElsewhere(
            f"{dest}: a PostgreSQL store is backed up with pg_dump --format=custom --schema={SCHEMA} "
            "(or base backups and WAL archiving for point-in-time recovery), not by gridsync-server"
        )

    def change_notices(self) -> Callable[[], AsyncGenerator[int | None, None]]:
        return partial(listen_for_changes, self.url)

    def claim_nonce(self, device_id: str, nonce: str, ts: int, forget_before: int) -> bool:
        """One autocommit upsert: the primary key (device_id, nonce) decides, for every process; a
        second claim at once waits for the first's row and finds it unexpired. Expired nonces are
        deleted by the first claim after `NONCE_PURGE_EVERY_S` (an indexed delete on `nonces_ts`)."""
        with self._conn() as db:
            if forget_before - self._nonces_purged >= NONCE_PURGE_EVERY_S:
                self._nonces_purged = forget_before
                db.execute("DELETE FROM nonces WHERE ts < %s", (forget_before,))
            cur = db.execute(
                "INSERT INTO nonces (device_id, nonce, ts) VALUES (%s, %s, %s) ON CONFLICT (device_id, nonce) "
                "DO UPDATE SET ts = excluded.ts WHERE nonces.ts < %s",
                (device_id, nonce, ts, forget_before),
            )
            return cur.rowcount == 1

    # --- reads ------------------------------------------------------------------------------------
    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        with self._conn() as db:
            return db.execute(sql, args).fetchone()  # type: ignore[call-overload]

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        with self._conn() as db:
            return db.execute(sql, args).fetchall()  # type: ignore[call-overload]

    def worker(self, worker_id: str) -> WorkerRecord | None:
        row = self._one(
            "SELECT worker_id, name, role, department, grids, all_grids FROM workers WHERE worker_id = %s",
            (worker_id,),
        )
        return None if row is None else worker_of(row)

    def workers(self) -> list[WorkerRecord]:
        rows = self._rows(
            "SELECT worker_id, name, role, department, grids, all_grids FROM workers ORDER BY 1"
        )
        return [worker_of(r) for r in rows]

    def device(self, device_id: str) -> DeviceRecord | None:
        row = self._one(f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE device_id = %s", (device_id,))
        return None if row is None else _device(row)

    def devices(self) -> list[DeviceRecord]:
        rows = self._rows(f"SELECT {_DEVICE_COLUMNS} FROM devices ORDER BY enrolled_at, device_id")
        return [_device(r) for r in rows]

    def case(self, case_id: str) -> Case | None:
        row = self._one("SELECT doc FROM cases WHERE case_id = %s", (case_id,))
        return None if row is None else load_case(row[0])

    def case_by_number(self, case_no: str) -> Case | None:
        row = self._one("SELECT doc FROM cases WHERE case_no = %s ORDER BY case_id LIMIT 1", (case_no,))
        return None if row is None else load_case(row[0])

    def cases(self) -> Iterator[Case]:
        # Pages by (reported_at, case_id), each from a connection taken and given back: bounded
        # memory over millions of cases, and no connection held while the caller works.
        after: tuple[int, str] | None = None
        while True:
            if after is None:
                rows = self._rows(
                    "SELECT reported_at, case_id, doc FROM cases ORDER BY reported_at, case_id LIMIT %s",
                    (_CASES_BATCH,),
                )
            else:
                rows = self._rows(
                    "SELECT reported_at, case_id, doc FROM cases WHERE (reported_at, case_id) > (%s, %s) "
                    "ORDER BY reported_at, case_id LIMIT %s",
                    (*after, _CASES_BATCH),
                )
            for row in rows:
                yield load_case(row[2])
            if len(rows) < _CASES_BATCH:
                return
            after = (rows[-1][0], rows[-1][1])

    def public_cases(self, query: PublicCaseQuery) -> list[Case]:
        where, args = _public_filter(query)
        rows = self._rows(
            f"SELECT doc FROM cases WHERE {where} ORDER BY reported_at DESC, case_id DESC LIMIT %s OFFSET %s",
            (*args, query.limit, query.offset),
        )
        return [load_case(r[0]) for r in rows]

    def public_texts(self, case_ids: Collection[str]) -> dict[str, str]:
        rows = self._rows(
            "SELECT DISTINCT ON (case_id) case_id, text FROM public_texts WHERE case_id = ANY(%s) "
            "ORDER BY case_id, id DESC",
            (list(case_ids),),
        )
        return {r[0]: r[1] for r in rows}

    def public_text_edits(self, case_id: str | None = None) -> list[PublicTextEdit]:
        sql = "SELECT case_id, text, before, edited_by, edited_at FROM public_texts"
        rows = (
            self._rows(sql + " WHERE case_id = %s ORDER BY id", (case_id,))
            if case_id
            else self._rows(sql + " ORDER BY id")
        )
        return [PublicTextEdit(*r) for r in rows]

    def api_key(self, key_id: str) -> ApiKeyRecord | None:
        row = self._one(f"SELECT {_API_KEY_COLUMNS} FROM api_keys WHERE key_id = %s", (key_id,))
        return None if row is None else ApiKeyRecord(*row)

    def api_keys(self) -> list[ApiKeyRecord]:
        return [
            ApiKeyRecord(*r)
            for r in self._rows(f"SELECT {_API_KEY_COLUMNS} FROM api_keys ORDER BY issued_at, key_id")
        ]

    def cases_with_open_conflicts(self) -> list[Case]:
        return [
            load_case(r[0])
            for r in self._rows("SELECT doc FROM cases WHERE open_conflicts > 0 ORDER BY case_id")
        ]

    def cases_holding_photo(self, sha256: str) -> list[Case]:
        rows = self._rows(
            "SELECT doc FROM cases WHERE case_id IN (SELECT case_id FROM photo_refs WHERE sha256 = %s) ORDER BY case_id",
            (sha256,),
        )
        return [load_case(r[0]) for r in rows]

    def change_seq(self) -> int:
        """The committed change counter. Numbers are reserved under the counter row's lock, held to
        commit (`PgTransaction.reserve_change_seqs`): writers commit in number order, so every number
        at or below the committed counter is committed."""
        row = self._one("SELECT value FROM counters WHERE name = 'change_seq'")
        return 0 if row is None else int(row[0])

    def changed_cases(self, cursor: int, limit: int, scope: ChangeScope) -> list[CaseChange]:
        where, args = _scope_filter(scope)
        rows = self._rows(
            "SELECT change_seq, doc, case_id, category, reporter, status, grid_code, department, handler "
            f"FROM cases WHERE change_seq > %s AND ({where}) ORDER BY change_seq LIMIT %s",
            (cursor, *args, limit),
        )
        return [CaseChange(int(r[0]), _visibility(r[2:]), r[1]) for r in rows]

    def device_outcomes(self, device_id: str, cursor: int, limit: int) -> list[OutcomeChange]:
        rows = self._rows(
            f"SELECT {_OUTCOME_COLUMNS} FROM op_log WHERE device_id = %s AND change_seq > %s "
            "ORDER BY change_seq LIMIT %s",
            (device_id, cursor, limit),
        )
        return [OutcomeChange(int(r[8]), OutcomeRow(*r).to_dict()) for r in rows]

    def outcomes_of(self, device_id: str, first_seq: int, last_seq: int) -> list[OutcomeRow]:
        rows = self._rows(
            f"SELECT {_OUTCOME_COLUMNS} FROM op_log WHERE device_id = %s AND seq BETWEEN %s AND %s AND seq > 0 "
            "ORDER BY seq",
            (device_id, first_seq, last_seq),
        )
        return [OutcomeRow(*r) for r in rows]

    def catalogue_doc(self, name: str) -> Any | None:
        row = self._one("SELECT doc FROM catalogue_docs WHERE name = %s", (name,))
        return None if row is None else json.loads(row[0])

    def catalogue_version(self) -> int:
        row = self._one("SELECT value FROM counters WHERE name = 'catalogue_version'")
        return 0 if row is None else int(row[0])

    def photo(self, sha256: str) -> PhotoRecord | None:
        row = self._one(
            "SELECT sha256, size, received, complete, uploader FROM photos WHERE sha256 = %s", (sha256,)
        )
        return None if row is None else PhotoRecord(row[0], row[1], row[2], bool(row[3]), row[4])

    def has_held(self, device_id: str) -> bool:
        return self._one("SELECT 1 FROM backlog WHERE device_id = %s LIMIT 1", (device_id,)) is not None

    def backlog_devices(self, received_before: int) -> list[str]:
        rows = self._rows(
            "SELECT DISTINCT device_id FROM backlog WHERE received_at < %s ORDER BY device_id",
            (received_before,),
        )
        return [r[0] for r in rows]

    def backlog_size(self) -> int:
        return int(self._one("SELECT count(*) FROM backlog")[0])

    def open_conflict_count(self) -> int:
        return int(self._one("SELECT count(*) FROM cases WHERE open_conflicts > 0")[0])

    def overdue_count(self) -> int:
        ended = sorted(str(s) for s in ENDED)
        return int(
            self._one("SELECT count(*) FROM cases WHERE overdue = 1 AND NOT status = ANY(%s)", (ended,))[0]
        )

    def size_bytes(self) -> int:
        return int(self._one("SELECT pg_database_size(current_database())")[0])

    def quarantined(self) -> list[QuarantineRecord]:
        rows = self._rows(
            "SELECT device_id, first_seq, last_seq, hash, reason, received_at FROM quarantine ORDER BY id"
        )
        return [QuarantineRecord(r[0], r[1], r[2], bytes(r[3]), r[4], r[5]) for r in rows]

    def admin_actions(
        self, *, action: str | None = None, target: str | None = None, since: int | None = None,
        until: int | None = None,
    ) -> list[AdminAction]:  # fmt: skip
        rows = self._rows(
            "SELECT id, at, os_user, action, target, before, after FROM admin_audit "
            "WHERE (%(a)s::text IS NULL OR action = %(a)s) AND (%(t)s::text IS NULL OR target = %(t)s) "
            "AND (%(s)s::bigint IS NULL OR at >= %(s)s) AND (%(u)s::bigint IS NULL OR at < %(u)s) ORDER BY id",
            {"a": action, "t": target, "s": since, "u": until},  # type: ignore[arg-type]
        )
        return [AdminAction(r[3], r[4], json.loads(r[5]), json.loads(r[6]), r[1], r[2], r[0]) for r in rows]

    def audit_rows(self, case_id: str | None = None) -> list[AuditRow]:
        sql = f"SELECT {_AUDIT_COLUMNS} FROM op_log"
        rows = (
            self._rows(sql + " WHERE case_id = %s ORDER BY id", (case_id,))
            if case_id
            else self._rows(sql + " ORDER BY id")
        )
        return [AuditRow(*r) for r in rows]


def _scope_filter(scope: ChangeScope) -> tuple[str, tuple[Any, ...]]:
    """Mirrors `shared.rules.can_see` (as the SQLite store's filter does)."""
    if scope.everything:
        return "true", ()
    if scope.department is not None or scope.handler is not None:
        return "department = %s OR handler = %s", (scope.department, scope.handler)
    return "grid_code = ANY(%s) OR reporter = %s", (list(scope.grids), scope.reporter)


def _public_filter(query: PublicCaseQuery) -> tuple[str, tuple[Any, ...]]:
    where: list[str] = ["reported_at BETWEEN %s AND %s"]
    args: list[Any] = [query.start, query.end]
    if query.categories is not None:
        where.append("category = ANY(%s)")
        args.append(sorted(query.categories))
    if query.statuses is not None:
        where.append("status = ANY(%s)")
        args.append(sorted(query.statuses))
    if query.bbox is not None:
        min_lon, min_lat, max_lon, max_lat = query.bbox
        # the box on the GiST index (`cases_place_box`, planar lon/lat), then exactly and inclusively
        where.append(
            "place::geometry && ST_MakeEnvelope(%s, %s, %s, %s, 4326) "
            "AND lon BETWEEN %s AND %s AND lat BETWEEN %s AND %s"
        )
        args += [min_lon, min_lat, max_lon, max_lat, min_lon, max_lon, min_lat, max_lat]
    return " AND ".join(where), tuple(args)


def _visibility(r: Any) -> Case:
    return Case(
        case_id=r[0], category=r[1], reporter=r[2], status=r[3], grid_code=r[4], department=r[5], handler=r[6]
    )


def _cluster_identity(db: psycopg.Connection[Any]) -> str | None:
    """Which physical copy of the database this is: the cluster's system identifier, its timeline
    (a point-in-time recovery or a promoted standby starts a new one) and the database's oid (a
    `pg_restore` into a new database has another). None if this role may not read them."""
    try:
        with db.transaction():
            row = db.execute(
                "SELECT s.system_identifier, c.timeline_id, d.oid FROM pg_control_system() s, "
                "pg_control_checkpoint() c, pg_database d WHERE d.datname = current_database()"
            ).fetchone()
    except psycopg.errors.InsufficientPrivilege:
        return None
    return None if row is None else f"{row[0]}:{row[1]}:{row[2]}"


def _settle_incarnation(db: psycopg.Connection[Any]) -> str:
    """The store's incarnation as it opens. A new one when the database is not the copy it was last
    opened as (`_cluster_identity` changed): restored with `pg_restore`, recovered to a point in time,
    or a standby promoted after a failover — each may have lost commits phones saw, so change
    numbers and device positions start a new life, as after an SQLite restore."""
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (INCARNATION_LOCK,))
        meta = dict(db.execute("SELECT name, value FROM store_meta").fetchall())
        identity = _cluster_identity(db)
        current = meta.get("incarnation") or new_incarnation()
        known = meta.get("cluster_identity")
        if identity is not None and known is not None and known != identity:
            db.execute(
                "INSERT INTO store_meta (name, value) VALUES ('restored_from', %s) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (current,),
            )
            current = new_incarnation()
        for name, value in (("incarnation", current), ("cluster_identity", identity)):
            if value is not None:
                db.execute(
                    "INSERT INTO store_meta (name, value) VALUES (%s, %s) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (name, value),
                )
    return current
