"""What a phone carries on its storage between rounds: its database, and no write-ahead log.

SQLite in WAL mode appends every written page to the `-wal` file and copies them into the database
only at a checkpoint (every ~16 MiB here, `Store`); the file then keeps its largest size. A phone
that reported a day's cases and caught up would carry megabytes of log for nothing. After every
round the phone copies the log into the database and truncates it (`Store.checkpoint`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.mobile.conftest import GRID_A, Server, fix_in, run
from tests.mobile.transports import FaultyTransport, always


def _wal(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_a_round_leaves_the_phone_no_log_to_carry_and_loses_nothing(server: Server, tmp_path: Path) -> None:
    phone = server.device(tmp_path / "p", "zhang.wei")
    ids = [phone.report(category="0101", location=fix_in(GRID_A), description=f"井盖 {i}") for i in range(20)]
    path = phone.store.path
    assert _wal(path) > 100_000  # twenty reports went through the log

    report = run(phone.sync())

    assert report.ok and report.ops_sent == 20
    assert _wal(path) == 0
    # Everything is in the database file itself, as the server applied it.
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        held = {row[0] for row in db.execute("SELECT case_id FROM server_cases")}
    finally:
        db.close()
    assert held >= set(ids)
    assert all(server.case(i) is not None for i in ids)


def test_a_round_that_cannot_reach_the_server_checkpoints_too(server: Server, tmp_path: Path) -> None:
    phone = server.device(tmp_path / "p", "zhang.wei")
    phone.report(category="0101", location=fix_in(GRID_A), description="井盖")
    phone.transport = FaultyTransport(server.transport, always("down"))  # the network is gone
    report = run(phone.sync())
    assert not report.ok
    assert _wal(phone.store.path) == 0
    assert phone.pending().ops == 1  # still waiting, kept
