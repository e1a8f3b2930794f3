"""Storage behind one narrow interface (`base.Store`, `base.Transaction`); SQLite by default.

Which store a server uses is chosen by a database URL: `--database-url`, else `$GRIDSYNC_DATABASE_URL`,
else `database_url` in the data directory's `config.json`; with none, the SQLite file
`<data>/gridsync.db`. A URL's scheme names the implementation (`STORE_SCHEMES`): `sqlite:///path`
for a SQLite file elsewhere, `postgresql://…` for PostgreSQL (when that store is installed).
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sync_server.config import CONFIG_FILE
from sync_server.store.base import Store
from sync_server.store.sqlite import DEFAULT_CACHE_KIB, SqliteStore

DATABASE_FILE = "gridsync.db"
DATABASE_URL_ENV = "GRIDSYNC_DATABASE_URL"
DATABASE_URL_KEY = "database_url"  # in config.json

#: A store implementation: opened from its URL and the page cache each connection may keep.
StoreOpener = Callable[[str, int], Store]

#: URL scheme -> "module:function" of a `StoreOpener`, imported only when such a URL is opened (so a
#: SQLite server never imports a PostgreSQL driver). The PostgreSQL store adds its schemes here.
STORE_SCHEMES: dict[str, str] = {
    "sqlite": "sync_server.store:open_sqlite_url",
    "postgresql": "sync_server.store.postgres:open_postgres_url",
    "postgres": "sync_server.store.postgres:open_postgres_url",
}


class StoreURLError(ValueError):
    """A database URL that names no store this server has, or is malformed; the message says which."""


def is_database_url(location: str | Path) -> bool:
    return isinstance(location, str) and "://" in location


def database_url(data_dir: Path) -> str | None:
    """The database URL configured for a data directory: `$GRIDSYNC_DATABASE_URL`, else
    `database_url` in its `config.json`; None for the default SQLite file in the directory.
    (`--database-url` reaches here through the environment, so `serve`'s workers see it too.)"""
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if url:
        return url
    config = Path(data_dir) / CONFIG_FILE
    if config.is_file():
        try:
            raw = json.loads(config.read_text("utf-8"))
        except ValueError:
            return None  # `load_config` says what is wrong with it
        value = raw.get(DATABASE_URL_KEY) if isinstance(raw, dict) else None
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def open_store(location: Path | str, *, cache_kib: int = DEFAULT_CACHE_KIB) -> Store:
    """The store at `location`: a database URL, or a data directory — then the URL configured for
    it (`database_url`), or the SQLite file `gridsync.db` in it when none is. The schema is migrated
    when the store opens. `cache_kib`: the page cache of each connection (SQLite: one per thread
    that uses the store)."""
    url = str(location) if is_database_url(location) else database_url(Path(location))
    if url is None:
        return SqliteStore(Path(location) / DATABASE_FILE, cache_kib=cache_kib)
    scheme = urlsplit(url).scheme.lower()
    target = STORE_SCHEMES.get(scheme)
    if target is None:
        known = ", ".join(f"{s}://" for s in sorted(STORE_SCHEMES))
        raise StoreURLError(f"no store for {scheme or 'a URL without a scheme'}:// (this server has {known})")
    module, _, name = target.partition(":")
    opener: StoreOpener = getattr(importlib.import_module(module), name)
    return opener(url, cache_kib)


def open_sqlite_url(url: str, cache_kib: int) -> Store:
    """`sqlite:///absolute/path.db` (or `sqlite:relative/path.db`): a SQLite store in that file."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    if parts.netloc not in ("", "localhost") or not path:
        raise StoreURLError(f"{url}: a SQLite URL names a local file, as sqlite:///path/to/gridsync.db")
    return SqliteStore(Path(path), cache_kib=cache_kib)


__all__ = [
    "DATABASE_FILE",
    "DATABASE_URL_ENV",
    "STORE_SCHEMES",
    "SqliteStore",
    "Store",
    "StoreURLError",
    "database_url",
    "open_store",
]
