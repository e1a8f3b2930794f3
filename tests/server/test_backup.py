"""`Store.backup` and `gridsync-server admin backup`: an online copy that holds what was committed."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from shared.model import Case, Location
from sync_server.cli import main
from sync_server.store import SqliteStore

CASES_PER_COMMIT = 3


def _case(n: int) -> Case:
    return Case(
        case_id=f"{n:032x}", category="5103", reporter="zhang.wei", case_no=f"2026{n + 1:06d}",
        location=Location(22.27 + n * 1e-6, 113.57, 5.0, "gps"), grid_code="441502001001001", version=1,
        reported_at=1772416800 + n, description=f"井盖松动 {n}",
    )  # fmt: skip


class Writer(threading.Thread):
    """Commits cases, a few per transaction, until stopped; `committed` grows after each commit."""

    def __init__(self, store: SqliteStore) -> None:
        super().__init__(daemon=True)
        self.store = store
        self.committed: list[str] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        n = 0
        try:
            while not self.stop.is_set():
                cases = [_case(n + k) for k in range(CASES_PER_COMMIT)]
                with self.store.transaction() as tx:
                    first = tx.reserve_change_seqs(len(cases))
                    tx.save_cases([(case, first + k) for k, case in enumerate(cases)])
                self.committed += [case.case_id for case in cases]
                n += len(cases)
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc


def test_a_backup_taken_under_writes_holds_every_case_committed_before_it(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "gridsync.db")
    writer = Writer(store)
    writer.start()
    try:
        while len(writer.committed) < 300 and writer.is_alive():
            threading.Event().wait(0.005)
        before = set(writer.committed)
        store.backup(tmp_path / "copy.db")
    finally:
        writer.stop.set()
        writer.join()
    assert writer.error is None
    assert len(writer.committed) > len(before)  # the writer went on during and after the backup

    copy = SqliteStore(tmp_path / "copy.db")
    found = {case.case_id: case for case in copy.cases()}
    assert before <= set(found)  # every case committed before the backup began
    assert set(found) <= set(writer.committed)  # and nothing that was never committed
    # one moment: whole transactions only, and the change counter agrees with the cases it numbered
    assert len(found) % CASES_PER_COMMIT == 0
    assert copy.change_seq() == len(found)
    for case_id, case in found.items():
        assert case == store.case(case_id)
    copy.close()
    store.close()
    assert not (tmp_path / "copy.db-wal").exists()  # a single self-contained file


def test_a_backup_never_holds_an_open_transaction_and_never_overwrites(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "gridsync.db")
    with store.transaction() as tx:
        tx.save_cases([(_case(0), tx.reserve_change_seqs(1))])
    with store.transaction() as tx:
        tx.save_cases([(_case(1), tx.reserve_change_seqs(1))])
        store.backup(tmp_path / "copy.db")  # taken while this thread's write is still open
    copy = SqliteStore(tmp_path / "copy.db")
    assert [case.case_id for case in copy.cases()] == [_case(0).case_id]
    copy.close()
    with pytest.raises(ValueError, match="exists"):
        store.backup(tmp_path / "copy.db")
    with pytest.raises(ValueError, match="exists"):
        store.backup(tmp_path / "gridsync.db")
    assert not list(tmp_path.glob(".*.partial"))
    store.close()


def test_admin_backup_writes_a_copy_the_server_can_open(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    monkeypatch.setenv("GRIDSYNC_PASSPHRASE", "pw")
    d = ["--data-dir", str(tmp_path / "d")]
    assert main([*d, "init", "--demo"]) == 0
    assert main([*d, "admin", "add-worker", "zhang.wei", "--name", "张伟", "--role", "worker", "--grids",
                 "441502001001001"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main([*d, "admin", "backup", str(tmp_path / "nightly.db")]) == 0
    assert "backed up the store" in capsys.readouterr().out
    db = sqlite3.connect(tmp_path / "nightly.db")
    assert db.execute("SELECT worker_id FROM workers").fetchall() == [("zhang.wei",)]
    db.close()
    assert main([*d, "admin", "backup", str(tmp_path / "nightly.db")]) == 2  # never overwrites
