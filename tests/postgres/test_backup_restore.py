"""Backups of a PostgreSQL store are the database's own (`pg_dump`, base backups and WAL); a store
restored from one takes a new incarnation when it opens, as a SQLite store restored from a backup
does, so phones pull from zero and resend what the backup lacks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sync_server.store import open_store
from sync_server.store.base import BackupElsewhere
from tests.postgres.database import create_database, drop_database, url_of

pytestmark = pytest.mark.postgres


def test_a_store_restored_with_pg_restore_takes_a_new_incarnation(tmp_path: Path, pg_url: str) -> None:
    store = open_store(pg_url)
    with store.transaction() as tx:
        tx.reserve_change_seqs(41)
    live = store.incarnation()
    with pytest.raises(BackupElsewhere, match="pg_dump"):
        store.backup(tmp_path / "nightly.db")
    store.close()
    again = open_store(pg_url)  # reopening the same database is the same life
    assert again.incarnation() == live
    again.close()

    dump = tmp_path / "nightly.dump"
    pg_dump, pg_restore = shutil.which("pg_dump"), shutil.which("pg_restore")
    assert pg_dump and pg_restore, "the PostgreSQL client tools (pg_dump, pg_restore) are needed"
    subprocess.run([pg_dump, "--format=custom", "--schema=gridsync", f"--file={dump}", pg_url], check=True)
    name = create_database()
    try:
        subprocess.run([pg_restore, f"--dbname={url_of(name)}", str(dump)], check=True)
        restored = open_store(url_of(name))
        try:
            assert restored.change_seq() == 41  # the data came back
            assert restored.incarnation() != live  # as a new life of the store
            second = open_store(url_of(name))
            assert second.incarnation() == restored.incarnation()  # renewed once, not at every open
            second.close()
        finally:
            restored.close()
    finally:
        drop_database(name)
