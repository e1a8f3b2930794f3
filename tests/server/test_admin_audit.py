"""The admin audit: every admin action recorded (what, on whom, before and after, when, the OS user),
append-only, and listed by `gridsync-server admin audit` with filters."""

from __future__ import annotations

import json
import pwd
import sqlite3
import time
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from sync_server.admin_audit import os_user, record_admin_action
from sync_server.cli import main
from sync_server.store import DATABASE_FILE, open_store
from sync_server.store.base import DeviceRecord

DEMO = resources.files("sync_server.data") / "demo_city"
GRID = "441502001001001"


@pytest.fixture
def server(tmp_path: Path, monkeypatch: Any) -> list[str]:
    """A demo data directory; the `--data-dir` arguments for `main`."""
    monkeypatch.setenv("GRIDSYNC_PASSPHRASE", "pw")
    d = ["--data-dir", str(tmp_path / "d")]
    assert main([*d, "init", "--demo"]) == 0
    return d


def _audit(capsys: Any, d: list[str], *filters: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main([*d, "admin", "audit", "--json", *filters]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def _add_device(data_dir: Path, device_id: str, worker_id: str) -> None:
    store = open_store(data_dir)
    try:
        with store.transaction() as tx:
            tx.add_device(
                DeviceRecord(device_id, worker_id, bytes(32), bytes(32), "phone", 1, None, 0, bytes(32))
            )
    finally:
        store.close()


def test_every_admin_action_is_recorded_with_before_after_time_and_os_user(
    server: list[str], tmp_path: Path, capsys: Any
) -> None:
    d = server
    started = int(time.time())
    worker = ["admin", "add-worker", "zhang.wei", "--name", "张伟", "--grids", GRID]
    assert main([*d, *worker, "--role", "worker"]) == 0
    assert main([*d, *worker, "--role", "supervisor"]) == 0  # a role change: before and after kept
    assert main([*d, "admin", "enroll-code", "zhang.wei"]) == 0
    _add_device(tmp_path / "d", "ab" * 16, "zhang.wei")
    assert main([*d, "admin", "revoke", "ab" * 16]) == 0
    for name, file in (("departments", "departments.csv"), ("categories", "categories.csv"),
                       ("grids", "grids.geojson"), ("calendar", "calendar.json")):  # fmt: skip
        assert main([*d, "admin", f"import-{name}", str(DEMO / file)]) == 0
    assert main([*d, "admin", "rotate-keys"]) == 0
    assert main([*d, "admin", "backup", str(tmp_path / "copy.db")]) == 0
    assert main([*d, "admin", "sweep"]) == 0

    rows = _audit(capsys, d)
    assert [r["action"] for r in rows] == [
        "init", "add-worker", "add-worker", "enroll-code", "revoke", "import-departments",
        "import-categories", "import-grids", "import-calendar", "rotate-keys", "backup", "sweep",
    ]  # fmt: skip
    me = pwd.getpwuid(__import__("os").geteuid()).pw_name
    assert all(r["os_user"].startswith(me) and started - 1 <= r["at"] <= time.time() + 1 for r in rows)
    created, changed = rows[1], rows[2]
    assert created["target"] == changed["target"] == "zhang.wei"
    assert created["before"] is None and created["after"]["role"] == "worker"
    assert changed["before"]["role"] == "worker" and changed["after"]["role"] == "supervisor"
    assert rows[3]["target"] == "zhang.wei" and rows[3]["after"]["expires_at"] > started
    assert rows[4]["target"] == "ab" * 16
    assert rows[4]["before"]["revoked_at"] is None and rows[4]["after"]["revoked_at"] >= started
    assert rows[5]["before"]["count"] == rows[5]["after"]["count"] > 0  # the same departments again
    assert rows[9]["before"]["encryption_key_id"] != rows[9]["after"]["encryption_key_id"]
    assert rows[10]["target"] == str(tmp_path / "copy.db")


def test_a_refused_admin_command_records_nothing(server: list[str], capsys: Any) -> None:
    d = server
    assert main([*d, "admin", "add-worker", "Bad Id", "--name", "x", "--role", "worker"]) == 2
    assert main([*d, "admin", "revoke", "cd" * 16]) == 2
    assert main([*d, "admin", "enroll-code", "nobody"]) == 2
    assert [r["action"] for r in _audit(capsys, d)] == ["init"]


def test_the_admin_audit_is_append_only_even_for_another_sqlite_client(
    server: list[str], tmp_path: Path
) -> None:
    d = server
    assert main([*d, "admin", "add-worker", "li.na", "--name", "李娜", "--role", "worker"]) == 0
    db = sqlite3.connect(tmp_path / "d" / DATABASE_FILE)
    try:
        (first,) = db.execute("SELECT MIN(id) FROM admin_audit").fetchone()
        for sql in (
            "UPDATE admin_audit SET os_user = 'someone else'",
            "DELETE FROM admin_audit",
            f"INSERT OR REPLACE INTO admin_audit (id, at, os_user, action, target) VALUES ({first}, 0, 'x', 'y', 'z')",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                db.execute(sql)
        assert db.execute("SELECT COUNT(*), MIN(os_user) FROM admin_audit").fetchone()[0] == 2
    finally:
        db.close()


def test_admin_audit_filters_by_action_target_and_time(
    server: list[str], tmp_path: Path, capsys: Any
) -> None:
    d = server
    for worker_id in ("zhang.wei", "li.na"):
        assert main([*d, "admin", "add-worker", worker_id, "--name", "x", "--role", "worker"]) == 0
    assert main([*d, "admin", "enroll-code", "li.na"]) == 0
    assert [r["action"] for r in _audit(capsys, d, "--target", "li.na")] == ["add-worker", "enroll-code"]
    assert [r["target"] for r in _audit(capsys, d, "--action", "add-worker")] == ["zhang.wei", "li.na"]
    assert (
        _audit(capsys, d, "--action", "add-worker", "--target", "li.na")[0]["after"]["worker_id"] == "li.na"
    )
    assert len(_audit(capsys, d, "--since", "2000-01-01", "--until", "2999-01-01")) == 4
    assert _audit(capsys, d, "--until", "2000-01-01") == []
    assert _audit(capsys, d, "--since", "2999-01-01") == []
    capsys.readouterr()
    assert main([*d, "admin", "audit"]) == 0  # the table for people
    assert "li.na" in capsys.readouterr().out


def test_the_audit_function_other_commands_call(tmp_path: Path, monkeypatch: Any) -> None:
    """`record_admin_action` is what any new admin command calls (restore, api keys): one row, read back."""
    monkeypatch.setenv("GRIDSYNC_PASSPHRASE", "pw")
    assert main(["--data-dir", str(tmp_path / "d"), "init"]) == 0
    store = open_store(tmp_path / "d")
    try:
        entry = record_admin_action(
            store, "api-key.issue", "key-1", after={"name": "12345 hotline"}, now=1_800_000_000
        )
        assert entry.os_user == os_user() and entry.at == 1_800_000_000
        found = store.admin_actions(action="api-key.issue")
        assert [(e.target, e.before, e.after, e.at) for e in found] == [
            ("key-1", None, {"name": "12345 hotline"}, 1_800_000_000)
        ]
        assert store.admin_actions(since=1_800_000_001) == []
        assert len(store.admin_actions(until=1_800_000_001)) == 2  # init, and this one
    finally:
        store.close()
