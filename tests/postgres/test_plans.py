"""A store that grows from empty under long-lived connections keeps finding cases by their index.

The defect this pins (found by `make bench`, docs/performance.md): psycopg prepares a statement on
its sixth run; PostgreSQL then switches that statement to a generic plan costed on the tables as
they were — a new store, empty and never analyzed — and keeps it as `cases` grows, so every
segment's `load_cases` (and the duplicate-candidates query, and the photo-holders join) read the
whole of `cases`: quadratic over a night. Here one process applies a night's segments through the
reconcile service on one pooled connection (as `ingest` does) to a fresh store: a few while the
store is nearly empty, then enough to grow `cases` to thousands, then a window of segments whose
sequential reads of `cases` are counted (`pg_stat_user_tables`). Autovacuum is off for the store's
tables in this test, so no background `ANALYZE` happens to replace the plans: the night runs
before autovacuum's first visit, as a fast ingest does.

And a store copied in by `migrate-store` starts with its statistics gathered, not as an unknown.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from bench import fleet
from shared import crypto
from sync_server.city import CityCache
from sync_server.config import load_config
from sync_server.keys import load_keys
from sync_server.reconcile import Reconciler
from sync_server.store import open_store
from sync_server.store.postgres.copy import copy_store
from tests.postgres.night import twin_data_dir

pytestmark = pytest.mark.postgres

DEVICES = 8
WARM_SEGMENTS = 2  # per device, 10 ops each, on a store nearly empty: the statements get prepared
GROW_OPS = 400  # per device, creates only, in 100-op segments: `cases` grows to 3,200 and more
WINDOW_SEGMENTS = 3  # per device, 25 mixed ops each (reports, notes, edits, photos): counted


def _cases_read(url: str) -> tuple[int, int]:
    """(sequential scans of `cases`, rows they read), as the statistics stand."""
    with psycopg.connect(url, autocommit=True) as db:
        row = db.execute(
            "SELECT seq_scan, seq_tup_read FROM pg_stat_user_tables "
            "WHERE schemaname = 'gridsync' AND relname = 'cases'"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_cases_are_found_by_index_however_much_the_store_grew_under_its_connections(
    tmp_path: Path, pg_url: str
) -> None:
    city, members = fleet.fleet(DEVICES, seed=31, grid_count=8)
    keys = fleet.build_server(tmp_path / "sqlite", city, members)
    url = f"{pg_url}?pool_size=1"  # one connection, as the ingest's group holds one
    twin_data_dir(tmp_path / "sqlite", tmp_path / "pg", city, members, database_url=url)
    with psycopg.connect(pg_url, autocommit=True) as db:
        tables = db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'gridsync'").fetchall()
        for (table,) in tables:
            db.execute(f"ALTER TABLE gridsync.{table} SET (autovacuum_enabled = false)")
    public = crypto.public_raw(keys.encryption)
    writers = [fleet.Writer(m, public, seed=31) for m in members]
    warm = [w.seal(w.ops(10)) for _ in range(WARM_SEGMENTS) for w in writers]
    grow = [blob for w in writers for blob in w.segments(GROW_OPS, 100, creates_only=True)]
    window = [w.seal(w.ops(25)) for _ in range(WINDOW_SEGMENTS) for w in writers]

    store = open_store(tmp_path / "pg")
    try:
        data_dir = tmp_path / "pg"
        reconciler = Reconciler(
            store, load_config(data_dir), load_keys(data_dir, fleet.PASSPHRASE), CityCache(store)
        )
        for blob in warm + grow:
            assert reconciler.apply_segment(blob, fleet.NOW, fleet.NOW)["status"] == "applied"
        with store.pool.connection() as db:  # type: ignore[attr-defined]
            db.execute("SELECT pg_stat_force_next_flush()")  # the counters so far, reported
        scans_before, read_before = _cases_read(pg_url)
        for blob in window:
            assert reconciler.apply_segment(blob, fleet.NOW, fleet.NOW)["status"] == "applied"
        with store.pool.connection() as db:  # type: ignore[attr-defined]
            db.execute("SELECT pg_stat_force_next_flush()")
    finally:
        store.close()
    scans, read = _cases_read(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as db:  # counted after the counters were read
        (cases,) = db.execute("SELECT count(*) FROM gridsync.cases").fetchone()  # type: ignore[misc]
    assert cases >= DEVICES * GROW_OPS
    # 24 segments on a table of 3,200+ cases: a scan of `cases` per segment would read 77,000 rows
    # and more; found by its index, not one whole read of the table is needed for all of them
    assert read - read_before < cases, (
        f"{scans - scans_before} sequential scans of cases read {read - read_before} rows "
        f"in {len(window)} segments (cases holds {cases})"
    )


def test_a_store_copied_in_by_migrate_store_has_its_statistics(tmp_path: Path, pg_url: str) -> None:
    city, members = fleet.fleet(2, seed=32, grid_count=4)
    keys = fleet.build_server(tmp_path / "sqlite", city, members)
    public = crypto.public_raw(keys.encryption)
    store = open_store(tmp_path / "sqlite")
    try:
        reconciler = Reconciler(
            store,
            load_config(tmp_path / "sqlite"),
            load_keys(tmp_path / "sqlite", fleet.PASSPHRASE),
            CityCache(store),
        )
        for writer in (fleet.Writer(m, public, seed=32) for m in members):
            blob = writer.seal(writer.ops(40))
            assert reconciler.apply_segment(blob, fleet.NOW, fleet.NOW)["status"] == "applied"
    finally:
        store.close()
    assert copy_store(tmp_path / "sqlite" / "gridsync.db", pg_url).copied
    with psycopg.connect(pg_url, autocommit=True) as db:
        for table in ("cases", "op_log", "devices", "applied_segments"):
            (estimate,) = db.execute(  # type: ignore[misc]
                "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (f"gridsync.{table}",)
            ).fetchone()
            (rows,) = db.execute(f"SELECT count(*) FROM gridsync.{table}").fetchone()  # type: ignore[misc]
            assert rows > 0, table
            # -1 until a table is first analyzed (or vacuumed): to the planner, "never counted"
            assert estimate == rows, f"{table}: the planner counts {estimate} rows, it holds {rows}"
