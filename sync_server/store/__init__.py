"""Storage behind one narrow interface (`base.Store`, `base.Transaction`); SQLite by default."""

from __future__ import annotations

from pathlib import Path

from sync_server.store.base import Store
from sync_server.store.sqlite import DEFAULT_CACHE_KIB, SqliteStore

DATABASE_FILE = "gridsync.db"


def open_store(data_dir: Path, *, cache_kib: int = DEFAULT_CACHE_KIB) -> Store:
    """The data directory's store. (A PostgreSQL store would be chosen here from the config.)
    `cache_kib`: the page cache of each connection (one per thread that uses the store)."""
    return SqliteStore(data_dir / DATABASE_FILE, cache_kib=cache_kib)


__all__ = ["DATABASE_FILE", "SqliteStore", "Store", "open_store"]
