"""Storage behind one narrow interface (`base.Store`, `base.Transaction`); SQLite by default."""

from __future__ import annotations

from pathlib import Path

from sync_server.store.base import Store
from sync_server.store.sqlite import SqliteStore

DATABASE_FILE = "gridsync.db"


def open_store(data_dir: Path) -> Store:
    """The data directory's store. (A PostgreSQL store would be chosen here from the config.)"""
    return SqliteStore(data_dir / DATABASE_FILE)


__all__ = ["DATABASE_FILE", "SqliteStore", "Store", "open_store"]
