"""The PostgreSQL (+ PostGIS) store: several server processes, on several machines, over one database.

`PgStore(url)` implements `store.base.Store`; `open_store` chooses it for a `postgresql://` URL.
Modules: `store.py` (reads, transactions, groups, the pool), `tx.py` (writes, and the database
locks that keep processes correct), `schema/migrations.py` (its own numbered migrations),
`errors.py` (a lost database is `server.unavailable`, 503), `copy.py` (`migrate-store`).
"""

from __future__ import annotations

from sync_server.store.postgres.store import PgStore, open_postgres_url

__all__ = ["PgStore", "open_postgres_url"]
