"""The store contract suite runs once per store implementation.

`STORE_FACTORIES` maps a store's name to a factory: given a fresh temporary folder, a context
manager that yields the URL of a new, empty store (created for this test, and removed afterwards)
that `sync_server.store.open_store` opens in this process or any other. Adding a store to the suite
is adding one entry here (the PostgreSQL store: a database created per test on the test server,
dropped afterwards); every test below then runs on it too, races included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from sync_server.store import Store, open_store
from tests.store.world import build_world

StoreFactory = Callable[[Path], AbstractContextManager[str]]


@contextmanager
def sqlite_store(folder: Path) -> Iterator[str]:
    """A SQLite file of its own (WAL, as `serve` runs it)."""
    yield f"sqlite://{folder / 'store.db'}"


@contextmanager
def postgresql_store(folder: Path) -> Iterator[str]:
    """A PostgreSQL database of its own with PostGIS, on the test server (127.0.0.1:5432), dropped
    afterwards (`tests.postgres.database`; the test fails, saying so, when PostgreSQL is not there)."""
    from tests.postgres.database import create_database, drop_database, url_of

    name = create_database("gridsync_test_store")
    try:
        yield url_of(name)
    finally:
        drop_database(name)


STORE_FACTORIES: dict[str, StoreFactory] = {"sqlite": sqlite_store, "postgresql": postgresql_store}
# stores whose tests need a server of their own (marked so: `-m "not postgres"` leaves them out)
STORE_MARKS = {"postgresql": (pytest.mark.postgres,)}


@pytest.fixture(
    params=[pytest.param(name, marks=STORE_MARKS.get(name, ())) for name in sorted(STORE_FACTORIES)]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty store of each implementation in turn."""
    folder = tmp_path / "store"
    folder.mkdir()
    with STORE_FACTORIES[request.param](folder) as url:
        yield url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture
def data_dir(tmp_path: Path, store_url: str) -> Path:
    """A server's data directory whose config names the store under test, with the demo city and
    its people in that store."""
    folder = tmp_path / "data"
    build_world(folder, store_url)
    return folder
