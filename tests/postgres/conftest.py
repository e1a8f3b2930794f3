"""Fixtures of the PostgreSQL tests (each module here is marked `postgres`)."""

from __future__ import annotations

from tests.postgres.database import pg_database, pg_url

__all__ = ["pg_database", "pg_url"]
