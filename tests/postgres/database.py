"""A PostgreSQL database of the test session's own, on the server at 127.0.0.1:5432.

The session creates `gridsync_test_<pid>_<random>` with PostGIS, hands its URL to the tests marked
`postgres`, and drops it at the end; no other database is touched. When PostgreSQL cannot be reached
the tests fail (they never skip) with a message that says so.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

SERVER = os.environ.get("GRIDSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(SERVER, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {SERVER} ({exc}); the postgres tests need it "
            "(start it, or point GRIDSYNC_TEST_PG at one)",
            pytrace=False,
        )


def url_of(name: str) -> str:
    conninfo = psycopg.conninfo.conninfo_to_dict(SERVER)
    conninfo["dbname"] = name
    return "postgresql://{user}@{host}:{port}/{dbname}".format(
        user=conninfo.get("user", "postgres"),
        host=conninfo.get("host", "127.0.0.1"),
        port=conninfo.get("port", 5432),
        dbname=name,
    )


def create_database(prefix: str = "gridsync_test") -> str:
    """A new empty database with PostGIS; returns its name."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    with _admin() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(url_of(name), autocommit=True) as db:
        db.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return name


def drop_database(name: str) -> None:
    """Drop a database this session created (its connections are ended first)."""
    assert name.startswith("gridsync_test"), name
    with _admin() as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def empty_schema(url: str) -> None:
    """Everything the store made in the session's database goes (PostGIS stays): a fresh store."""
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("DROP SCHEMA IF EXISTS gridsync CASCADE")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """The session's own database (its URL), dropped at the end."""
    name = create_database()
    try:
        yield url_of(name)
    finally:
        drop_database(name)


@pytest.fixture
def pg_url(pg_database: str) -> Iterator[str]:
    """The session's database, emptied of any store before and after each test."""
    empty_schema(pg_database)
    yield pg_database
    empty_schema(pg_database)
