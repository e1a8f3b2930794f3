"""`gridsync-server admin restore` and the store's incarnation (issue 10, A3)."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sync_server.cli import main
from sync_server.store import SqliteStore


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _workers(db: Path) -> list[str]:
    store = SqliteStore(db)
    try:
        return [w.worker_id for w in store.workers()]
    finally:
        store.close()


def _incarnation(db: Path) -> str:
    store = SqliteStore(db)
    try:
        return store.incarnation()
    finally:
        store.close()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: Any) -> Path:
    monkeypatch.setenv("GRIDSYNC_PASSPHRASE", "pw")
    folder = tmp_path / "d"
    assert main(["--data-dir", str(folder), "init", "--demo"]) == 0
    return folder


def _admin(data_dir: Path, *args: str) -> int:
    return main(["--data-dir", str(data_dir), "admin", *args])


def _add_worker(data_dir: Path, worker_id: str) -> None:
    assert _admin(data_dir, "add-worker", worker_id, "--name", worker_id, "--role", "worker") == 0


def test_admin_restore_installs_the_backup_as_a_new_incarnation_and_keeps_the_replaced_store(
    data_dir: Path, tmp_path: Path, capsys: Any
) -> None:
    db = data_dir / "gridsync.db"
    _add_worker(data_dir, "zhang.wei")
    backup = tmp_path / "nightly.db"
    assert _admin(data_dir, "backup", str(backup)) == 0
    _add_worker(data_dir, "li.na")
    live = _incarnation(db)
    kept = _digest(backup)
    capsys.readouterr()

    assert _admin(data_dir, "restore", str(backup)) == 0
    out = capsys.readouterr().out
    assert "restored" in out and "kept as" in out

    assert _workers(db) == ["zhang.wei"]  # the backup's state
    restored = _incarnation(db)
    assert restored not in (live, _incarnation_of_file(backup))
    assert _incarnation(db) == restored  # stable once made
    assert _digest(backup) == kept  # the backup file itself is never changed
    (aside,) = data_dir.glob("gridsync.db.before-restore-*")
    assert sorted(_workers(aside)) == ["li.na", "zhang.wei"]  # nothing the operator had is gone
    assert not list(data_dir.glob(".gridsync.db.restoring"))


def _incarnation_of_file(path: Path) -> str:
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return str(db.execute("SELECT value FROM store_meta WHERE name = 'incarnation'").fetchone()[0])
    finally:
        db.close()


def test_admin_restore_refuses_while_the_store_is_open_and_changes_nothing(
    data_dir: Path, tmp_path: Path
) -> None:
    db = data_dir / "gridsync.db"
    backup = tmp_path / "nightly.db"
    assert _admin(data_dir, "backup", str(backup)) == 0
    _add_worker(data_dir, "zhang.wei")
    serving = SqliteStore(db)  # what a running `serve` holds, even idle
    try:
        before = serving.incarnation()
        assert _admin(data_dir, "restore", str(backup)) == 2
        assert [w.worker_id for w in serving.workers()] == ["zhang.wei"]
    finally:
        serving.close()
    assert _incarnation(db) == before
    assert not list(data_dir.glob("gridsync.db.before-restore-*"))
    assert not list(data_dir.glob(".gridsync.db.restoring"))


@pytest.mark.parametrize("content", [b"", b"not a database at all" * 100, "empty sqlite"])
def test_admin_restore_refuses_a_file_that_is_not_a_store(
    data_dir: Path, tmp_path: Path, content: bytes | str, capsys: Any
) -> None:
    db = data_dir / "gridsync.db"
    _add_worker(data_dir, "zhang.wei")
    before = _incarnation(db)
    bad = tmp_path / "bad.db"
    if isinstance(content, bytes):
        bad.write_bytes(content)
    else:
        sqlite3.connect(bad).execute("CREATE TABLE t (x)").connection.close()
    capsys.readouterr()
    assert _admin(data_dir, "restore", str(bad)) == 2
    assert "gridsync-server" in capsys.readouterr().err
    assert _admin(data_dir, "restore", str(tmp_path / "missing.db")) == 2
    assert _workers(db) == ["zhang.wei"] and _incarnation(db) == before
    assert not list(data_dir.glob("gridsync.db.before-restore-*"))


def test_a_backup_copied_in_by_hand_takes_a_new_incarnation_when_the_store_opens(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "gridsync.db")
    live = store.incarnation()
    store.backup(tmp_path / "nightly.db")
    assert store.incarnation() == live  # the live store is not touched by its backup
    store.close()
    assert _incarnation_of_file(tmp_path / "nightly.db") == live  # the copy says where it came from
    shutil.copyfile(tmp_path / "nightly.db", tmp_path / "copied.db")
    copied = _incarnation(tmp_path / "copied.db")
    assert copied != live
    assert _incarnation(tmp_path / "copied.db") == copied  # once, not at every open
    assert _incarnation(tmp_path / "gridsync.db") == live


def test_a_store_past_migration_5_without_an_incarnation_gets_one(tmp_path: Path) -> None:
    """`migrate` skips numbers below the highest recorded one: a store that recorded a later
    migration before number 5 existed still gets its incarnation when it opens."""
    SqliteStore(tmp_path / "gridsync.db").close()
    db = sqlite3.connect(tmp_path / "gridsync.db")
    db.execute("DROP TABLE store_meta")
    db.execute("DELETE FROM migrations WHERE version = 5")
    db.commit()
    db.close()
    assert len(_incarnation(tmp_path / "gridsync.db")) == 32


def test_admin_restore_is_in_the_admin_audit_of_the_restored_store(data_dir: Path, tmp_path: Path) -> None:
    backup = tmp_path / "nightly.db"
    assert _admin(data_dir, "backup", str(backup)) == 0
    assert _admin(data_dir, "restore", str(backup)) == 0
    store = SqliteStore(data_dir / "gridsync.db")
    try:
        (entry,) = [a for a in store.admin_actions() if a.action == "restore"]
        assert entry.target == str(backup)
        assert entry.after["incarnation"] == store.incarnation()
        assert entry.before["incarnation"] == entry.after["replaced"] != store.incarnation()
    finally:
        store.close()
