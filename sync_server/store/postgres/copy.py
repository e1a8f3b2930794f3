"""`gridsync-server migrate-store --to postgresql://…`: a SQLite store copied into PostgreSQL.

Order of work: hold the SQLite file exclusively (refused while `serve` or `ingest` has it open, so
nothing changes under the copy and no phone's push lands in the file left behind) → open the
PostgreSQL store (its schema migrated) → in ONE PostgreSQL transaction: check the target, copy every
table with `COPY … FROM STDIN`, move the id sequences past the copied ids, and compare per-table row
counts and checksums of both sides; any difference rolls the whole copy back. So the target holds
the whole store or nothing.
Then the store's tables are analyzed, so the planner knows their sizes from the first push.

Safe to re-run: a target that already holds exactly this store (same counts and checksums) is
left as it is ("already copied"); a target holding anything else is refused, never overwritten.

The store's incarnation is copied with it (`store_meta`), and so are every change number, device
position and receipt: phones carry on against the new store with the cursors they have.

Checksums are order-independent (the sum, modulo 2**256, of the SHA-256 of each row's canonical
JSON), so the two databases' different text orderings do not matter.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from sync_server.store.case_text import unpack
from sync_server.store.postgres.schema.migrations import SCHEMA
from sync_server.store.postgres.store import PgStore

# SQLite-only columns: its own index detail, not data (PostgreSQL indexes `cases.place` instead).
SQLITE_ONLY_COLUMNS = {("cases", "near")}
# Not copied: each store's own schema history; the numbers SQLite keeps the op log's actors and
# devices under (`store.op_log`: `op_log_text` reads the names back); and the PostgreSQL-only mark
# of the cluster copy.
NOT_COPIED_TABLES = {"migrations", "op_log_names"}
# Tables SQLite keeps in a packed form, read through the view that gives their rows as PostgreSQL
# holds them (`store.op_log`).
SOURCE_VIEWS = {"op_log": "op_log_text"}
PG_ONLY_META = ("cluster_identity",)
# Tables whose ids come from a sequence in PostgreSQL (moved past the copied ids).
SERIAL_TABLES = ("op_log", "quarantine", "admin_audit", "public_texts")
_MOD = 2**256


@dataclass(frozen=True, slots=True)
class TableCheck:
    table: str
    rows: int
    checksum: str

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "rows": self.rows, "checksum": self.checksum}


@dataclass(frozen=True, slots=True)
class CopyResult:
    copied: bool  # False: the target held this store already
    tables: tuple[TableCheck, ...]
    incarnation: str | None


class CopyRefused(ValueError):
    """The copy cannot be made (the source is in use, or the target holds another store); nothing
    was written."""


def _canonical(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        return {"b": bytes(value).hex()}
    if isinstance(value, float):
        return {"f": value.hex()}
    return value


def row_digest(row: Iterable[Any]) -> int:
    text = json.dumps([_canonical(v) for v in row], ensure_ascii=False, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")


def checksum(rows: Iterable[Iterable[Any]]) -> tuple[int, str]:
    count, total = 0, 0
    for row in rows:
        count += 1
        total = (total + row_digest(row)) % _MOD
    return count, f"{total:064x}"


def _sqlite_tables(src: sqlite3.Connection) -> dict[str, list[str]]:
    names = [
        r[0]
        for r in src.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    return {
        name: [r[1] for r in src.execute(f'PRAGMA table_info("{SOURCE_VIEWS.get(name, name)}")')]
        for name in names
    }


def _pg_tables(db: psycopg.Connection[Any]) -> dict[str, list[str]]:
    rows = db.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s "
        "AND is_generated = 'NEVER' ORDER BY table_name, ordinal_position",
        (SCHEMA,),
    ).fetchall()
    tables: dict[str, list[str]] = {}
    for table, column in rows:
        tables.setdefault(table, []).append(column)
    return tables


def plan(src: sqlite3.Connection, db: psycopg.Connection[Any]) -> dict[str, list[str]]:
    """Table -> the columns to copy. Refused when the SQLite store has a table or column this
    PostgreSQL store lacks (a SQLite migration not yet mirrored here): nothing may be left behind."""
    source, target = _sqlite_tables(src), _pg_tables(db)
    columns: dict[str, list[str]] = {}
    missing: list[str] = []
    for table, cols in sorted(source.items()):
        if table in NOT_COPIED_TABLES:
            continue
        if table not in target:
            missing.append(table)
            continue
        for col in cols:
            if col not in target[table] and (table, col) not in SQLITE_ONLY_COLUMNS:
                missing.append(f"{table}.{col}")
        columns[table] = [c for c in cols if (table, c) not in SQLITE_ONLY_COLUMNS]
    if missing:
        raise CopyRefused(f"the PostgreSQL store has no place for {', '.join(missing)}: nothing was copied")
    # referenced tables first (devices and enrollment codes name a worker)
    return dict(sorted(columns.items(), key=lambda item: (item[0] != "workers", item[0])))


def _quoted(cols: list[str]) -> str:
    return ", ".join(f'"{c}"' for c in cols)


def _sqlite_rows(src: sqlite3.Connection, table: str, cols: list[str]) -> Iterator[tuple[Any, ...]]:
    rows = src.execute(f'SELECT {_quoted(cols)} FROM "{SOURCE_VIEWS.get(table, table)}"')
    if table != "cases" or "doc" not in cols:
        return iter(rows)
    # SQLite keeps a case's document packed (`case_text`); PostgreSQL holds its JSON text
    doc = cols.index("doc")
    return ((*r[:doc], unpack(r[doc]), *r[doc + 1 :]) for r in rows)


def _pg_rows(db: psycopg.Connection[Any], table: str, cols: list[str]) -> Iterator[tuple[Any, ...]]:
    # PostgreSQL-only marks of `store_meta` (which cluster copy it is) are not the SQLite store's
    where = (
        f" WHERE name NOT IN ({', '.join(repr(n) for n in PG_ONLY_META)})" if table == "store_meta" else ""
    )
    with db.cursor(name=f"check_{table}") as cur:  # server-side: bounded memory
        cur.itersize = 5000
        cur.execute(f'SELECT {_quoted(cols)} FROM "{table}"{where}')  # type: ignore[arg-type]
        yield from cur


def _lock_source(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise CopyRefused(f"{path} does not exist: there is no SQLite store to copy")
    src = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        src.execute("PRAGMA locking_mode=EXCLUSIVE")
        src.execute("BEGIN EXCLUSIVE")  # held to the end: nothing writes the file during the copy
    except sqlite3.OperationalError:
        src.close()
        raise CopyRefused(f"{path} is open in another process: stop `serve` and any `ingest` first") from None
    return src


def _empty(db: psycopg.Connection[Any], tables: Iterable[str]) -> bool:
    for table in tables:
        if table == "store_meta":  # a fresh PostgreSQL store has made its own incarnation
            continue
        if db.execute(f'SELECT EXISTS (SELECT 1 FROM "{table}")').fetchone()[0]:  # type: ignore[call-overload,index]
            return False
    return True


def _checks(rows_of: Any, columns: dict[str, list[str]]) -> dict[str, TableCheck]:
    found = {}
    for table, cols in columns.items():
        count, digest = checksum(rows_of(table, cols))
        found[table] = TableCheck(table, count, digest)
    return found


def copy_store(sqlite_path: Path, url: str) -> CopyResult:
    """Copy the SQLite store at `sqlite_path` into the PostgreSQL database at `url` (see the module),
    then `ANALYZE` the store's tables: the planner knows their sizes before the first phone's push
    instead of taking them as never counted until autovacuum's first visit. A re-run analyzes too,
    so a copy interrupted before its `ANALYZE` is finished by running it again."""
    result = _copy_store(sqlite_path, url)
    with psycopg.connect(url, autocommit=True) as db:
        tables = [
            r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (SCHEMA,))
        ]
        db.execute(
            sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(sql.Identifier(SCHEMA, t) for t in tables))
        )
    return result


def _copy_store(sqlite_path: Path, url: str) -> CopyResult:
    from sync_server.store.sqlite import SqliteStore

    if sqlite_path.is_file():
        SqliteStore(sqlite_path).close()  # migrated to this version first
    src = _lock_source(sqlite_path)
    try:
        if src.execute("SELECT 1 FROM sqlite_master WHERE name = 'store_meta'").fetchone() is None:
            raise CopyRefused(f"{sqlite_path} has no incarnation: open it with this version first")
        PgStore(url).close()  # the schema, migrated (and a first incarnation, replaced below)
        with psycopg.connect(url, autocommit=True) as db:
            db.execute(f"SET search_path TO {SCHEMA}, public")  # type: ignore[call-overload]
            columns = plan(src, db)
            source = _checks(lambda t, c: _sqlite_rows(src, t, c), columns)
            with db.transaction():
                # one copy at a time; writers of this database (a `serve` started too early) wait
                db.execute("LOCK TABLE devices, cases, op_log, counters, store_meta IN EXCLUSIVE MODE")
                target_meta: dict[str, str] = dict(
                    db.execute("SELECT name, value FROM store_meta").fetchall()
                )
                if not _empty(db, columns):
                    target = _checks(lambda t, c: _pg_rows(db, t, c), columns)
                    if target == source:
                        return CopyResult(False, tuple(source.values()), target_meta.get("incarnation"))
                    differ = sorted(t for t in target if target[t] != source[t])
                    raise CopyRefused(
                        f"the PostgreSQL store holds another store (tables differ: {', '.join(differ)}); "
                        "nothing was changed — copy into an empty database"
                    )
                db.execute("DELETE FROM store_meta")  # the fresh store's own incarnation goes
                for table, cols in columns.items():
                    try:
                        with db.cursor().copy(f'COPY "{table}" ({_quoted(cols)}) FROM STDIN') as copy:  # type: ignore[arg-type]
                            for row in _sqlite_rows(src, table, cols):
                                copy.write_row(row)
                    except psycopg.DataError as exc:  # e.g. a NUL in text, which PostgreSQL cannot hold
                        raise CopyRefused(
                            f"PostgreSQL refused a row of {table} ({' '.join(str(exc).split())}): nothing was copied"
                        ) from exc
                for table in SERIAL_TABLES:
                    if table in columns:
                        db.execute(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # type: ignore[call-overload]
                            f'COALESCE((SELECT max(id) FROM "{table}"), 0) + 1, false)'
                        )
                target = _checks(lambda t, c: _pg_rows(db, t, c), columns)
                differ = sorted(t for t in columns if target[t] != source[t])
                if differ:
                    raise CopyRefused(f"the copy differs from the source in {', '.join(differ)}: rolled back")
                meta_row = db.execute("SELECT value FROM store_meta WHERE name = 'incarnation'").fetchone()
                incarnation = None if meta_row is None else str(meta_row[0])
        return CopyResult(True, tuple(source.values()), incarnation)
    finally:
        src.close()
