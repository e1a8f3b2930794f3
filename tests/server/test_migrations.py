"""Store migrations keep what was stored: a database made by an older release opens and reads the same."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sync_server.store import migrations
from sync_server.store.sqlite import SqliteStore


def _at_version(path: Path, version: int) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    kept = [m for m in migrations.MIGRATIONS if m[0] <= version]
    saved = list(migrations.MIGRATIONS)
    migrations.MIGRATIONS[:] = kept
    try:
        assert migrations.migrate(db) == version
    finally:
        migrations.MIGRATIONS[:] = saved
    db.close()


def test_a_receipt_stored_before_migration_3_is_still_returned_word_for_word(tmp_path: Path) -> None:
    path = tmp_path / "gridsync.db"
    _at_version(path, 2)
    receipt = '{"device_id":"d1","first_seq":1,"last_seq":1,"status":"applied","outcomes":[{"op_id":"o1"}]}'
    db = sqlite3.connect(path)
    db.execute(
        "INSERT INTO applied_segments (device_id, first_seq, last_seq, hash, receipt) VALUES (?, ?, ?, ?, ?)",
        ("d1", 1, 1, b"\x01" * 32, receipt),
    )
    db.commit()
    db.close()

    store = SqliteStore(path)  # migrates to the newest version
    try:
        assert migrations.current_version(store._db()) == max(m[0] for m in migrations.MIGRATIONS)
        with store.transaction() as tx:
            found = tx.applied_segment("d1", 1)
            assert tx.applied_segment("d1", 2) is None
        assert found is not None
        assert found[0] == b"\x01" * 32
        assert found[1]["outcomes"] == [{"op_id": "o1"}] and found[1]["last_seq"] == 1
    finally:
        store.close()


def test_a_resent_segment_reads_every_outcome_back_from_the_op_log(worker: Any, services: Any) -> None:
    """Applied, rejected and duplicate outcomes, with their codes, versions and details."""
    created = worker.create()
    worker.push_ops([created])
    foreign = worker.create()
    foreign["actor"] = "someone.else"
    blob = worker.seal([worker.note(created["case_id"]), foreign, created, worker.create()])
    first = worker.push(blob).json()
    assert [o["outcome"] for o in first["outcomes"]] == ["applied", "rejected", "duplicate", "applied"]
    again = worker.push(blob).json()
    assert again == {**first, "status": "resent"}


def test_a_migration_numbered_below_one_already_run_still_runs(tmp_path: Path) -> None:
    """Migration numbers are handed out ahead of time, so a store may have run 7 before 4 existed."""
    path = tmp_path / "store.db"
    db = sqlite3.connect(path, isolation_level=None)
    saved = list(migrations.MIGRATIONS)
    migrations.MIGRATIONS[:] = [m for m in saved if m[0] != 4]
    try:
        migrations.migrate(db)
    finally:
        migrations.MIGRATIONS[:] = saved
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'segments_seen'").fetchone() is None
    db.close()
    SqliteStore(path).close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'segments_seen'").fetchone() is not None
    assert [r[0] for r in db.execute("SELECT version FROM migrations ORDER BY version")] == sorted(
        m[0] for m in saved
    )
    db.close()
