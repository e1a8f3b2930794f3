"""Store migrations keep what was stored: a database made by an older release opens and reads the same."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from shared.rules import apply_op
from sync_server.store import migrations
from sync_server.store.base import Nearby
from sync_server.store.op_log import pack_id
from sync_server.store.sqlite import SqliteStore
from sync_server.store.sqlite_tx import CASE_COLUMNS, case_row
from tests.server.test_op_log import ROWS, as_audit, as_outcome
from tests.shared.factories import DEV_1, DEV_2, WORKER, OpMaker, ctx, new_id


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


def test_migration_15_keeps_every_op_log_row_and_receipt_as_it_was(tmp_path: Path) -> None:
    """The op log is copied into its packed form (`store.op_log`): rows written before read the same
    through every read, a receipt read back from them is the same, and new rows follow them."""
    path = tmp_path / "gridsync.db"
    _at_version(path, 12)  # every migration before 15
    db = sqlite3.connect(path)
    db.executemany(
        "INSERT INTO op_log (device_id, seq, op_id, actor, case_id, kind, outcome, code, version, detail, "
        "change_seq, received_at, applied_at, flags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ROWS,
    )
    db.execute(
        "INSERT INTO applied_segments (device_id, first_seq, last_seq, hash, first_change, last_change) "
        "VALUES (?, 1, 4, ?, 101, 104)",
        (DEV_1, b"\x02" * 32),
    )
    db.commit()
    db.close()

    store = SqliteStore(path)
    try:
        assert store.audit_rows() == [as_audit(r) for r in ROWS]
        assert store.audit_rows(ROWS[0].case_id) == [
            as_audit(r) for r in ROWS if r.case_id == ROWS[0].case_id
        ]
        assert store.outcomes_of(DEV_1, 1, 4) == [as_outcome(r) for r in ROWS[:4]]
        assert [c.outcome for c in store.device_outcomes(DEV_1, 0, 10)] == [
            as_outcome(r).to_dict() for r in ROWS[:4]
        ]
        with store.transaction() as tx:
            found = tx.applied_segment(DEV_1, 1)
            tx.record_ops([ROWS[5]._replace(seq=2, change_seq=107)])
        assert found is not None and found[0] == b"\x02" * 32
        assert found[1]["outcomes"] == [as_outcome(r).to_dict() for r in ROWS[:4]]
        db = sqlite3.connect(path)
        text = db.execute("SELECT * FROM op_log_text ORDER BY id").fetchall()
        feed = [r[2] for r in db.execute("PRAGMA index_info('op_log_feed')")]
        db.close()
        assert text[:-1] == [(i, *r) for i, r in enumerate(ROWS, start=1)]
        assert text[-1][:3] == (len(ROWS) + 1, DEV_2, 2)
        assert feed == ["device_no", "change_seq"]
    finally:
        store.close()


def test_migration_16_narrows_the_duplicate_index_and_candidates_are_found_as_before(tmp_path: Path) -> None:
    path = tmp_path / "gridsync.db"
    _at_version(path, 15)
    maker = OpMaker(DEV_1, WORKER.worker_id)
    _, case = apply_op(None, maker.create(new_id()), WORKER, ctx())
    assert case is not None and case.location is not None
    db = sqlite3.connect(path)
    db.execute(f"INSERT INTO cases ({CASE_COLUMNS}) VALUES ({', '.join('?' * 19)})", case_row(case, 1))
    db.commit()
    db.close()

    store = SqliteStore(path)
    try:
        with store.transaction() as tx:
            found = tx.duplicate_candidates([(case.category, case.location.lat, case.location.lon)], 50, 0)
        db = sqlite3.connect(path)
        columns = [r[2] for r in db.execute("PRAGMA index_info('cases_near')")]
        db.close()
    finally:
        store.close()
    assert columns == ["near", "reported_at", "status", "lat", "lon"]
    loc = case.location
    assert found == [
        Nearby(0, case.case_id, case.category, str(case.status), loc.lat, loc.lon, case.reported_at)
    ]


def test_migration_17_drops_the_device_text_from_every_op_log_row_and_reads_the_same(tmp_path: Path) -> None:
    """The op log's rows lose their device id as text (the device is `device_no`): every read and
    `op_log_text` give back what was written before the migration, and new rows follow."""
    path = tmp_path / "gridsync.db"
    _at_version(path, 16)
    db = sqlite3.connect(path, isolation_level=None)
    names = {r.device_id for r in ROWS} | {r.actor for r in ROWS}
    db.executemany("INSERT INTO op_log_names (name) VALUES (?)", [(n,) for n in sorted(names)])
    number = dict(db.execute("SELECT name, id FROM op_log_names").fetchall())
    db.executemany(
        "INSERT INTO op_log (device_id, device_no, seq, op_id, actor_no, case_id, kind, outcome, code, version, "
        "detail, change_seq, received_at, waited, flags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (r.device_id, number[r.device_id], r.seq, pack_id(r.op_id), number[r.actor],
             pack_id(r.case_id), r.kind, r.outcome, r.code, r.version, r.detail, r.change_seq,
             r.received_at, r.applied_at - r.received_at, r.flags)
            for r in ROWS
        ],
    )  # fmt: skip
    written = db.execute("SELECT * FROM op_log_text ORDER BY id").fetchall()
    db.close()

    store = SqliteStore(path)
    try:
        assert store.audit_rows() == [as_audit(r) for r in ROWS]
        assert store.outcomes_of(DEV_1, 1, 4) == [as_outcome(r) for r in ROWS[:4]]
        assert [c.outcome for c in store.device_outcomes(DEV_1, 0, 10)] == [
            as_outcome(r).to_dict() for r in ROWS[:4]
        ]
        with store.transaction() as tx:
            tx.record_ops([ROWS[5]._replace(seq=2, change_seq=107)])
        db = sqlite3.connect(path)
        columns = [r[1] for r in db.execute("PRAGMA table_info('op_log')")]
        text = db.execute("SELECT * FROM op_log_text ORDER BY id").fetchall()
        feed = [r[2] for r in db.execute("PRAGMA index_info('op_log_feed')")]
        db.close()
    finally:
        store.close()
    assert "device_id" not in columns and "device_no" in columns
    assert written == [(i, *r) for i, r in enumerate(ROWS, start=1)]
    assert text[:-1] == written
    assert text[-1][:3] == (len(ROWS) + 1, DEV_2, 2)
    assert feed == ["device_no", "change_seq"]


def test_a_new_store_has_8_kib_pages_and_an_older_file_keeps_its_own(tmp_path: Path) -> None:
    """SQLite sets a page size only on an empty file: a store made by an older release (4 KiB pages)
    opens, migrates and writes as before, with its pages as they were. Either way its WAL is
    checkpointed after the same number of bytes (SQLite counts the limit in pages)."""
    new = SqliteStore(tmp_path / "new.db")
    checkpoints = [new._db().execute("PRAGMA wal_autocheckpoint").fetchone()[0]]
    new.close()
    older = tmp_path / "older.db"
    _at_version(older, 12)  # made with SQLite's default page size, as before
    store = SqliteStore(older)
    try:
        with store.transaction() as tx:
            tx.record_ops(ROWS)
        assert store.audit_rows() == [as_audit(r) for r in ROWS]
        checkpoints.append(store._db().execute("PRAGMA wal_autocheckpoint").fetchone()[0])
    finally:
        store.close()
    assert [c * s for c, s in zip(checkpoints, (8192, 4096), strict=True)] == [256 * 1024 * 1024] * 2
    sizes = [
        sqlite3.connect(tmp_path / name).execute("PRAGMA page_size").fetchone()[0]
        for name in ("new.db", "older.db")
    ]
    assert sizes == [8192, 4096]
