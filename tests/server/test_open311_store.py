"""Open311 `GET requests` runs in the database on an index: its work does not grow with the store.

Issue 11 item 4: the endpoint read and parsed every case in Python (1.6 s and hundreds of MB per
request on 27k cases). These tests measure work, not time: the query plan, the SQLite virtual
machine steps a query takes (a progress handler called every step), and the Python memory peak of a
whole request through the app.
"""

from __future__ import annotations

import sqlite3
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from shared.model import Case, Location, Status
from sync_server.store import SqliteStore
from sync_server.store.base import PublicCaseQuery

NOW = 1772416800  # 2026-03-02 10:00 +08:00
DAY = 86_400


def make_case(
    n: int, *, reported_at: int, status: Status = Status.DISPATCHED, category: str = "0103"
) -> Case:
    return Case(
        case_id=f"{n:032x}", case_no=f"2026{n:06d}", category=category, reporter="zhang.wei", status=status,
        location=Location(22.78 + (n % 100) * 1e-4, 115.37 + (n // 100 % 100) * 1e-4, 5.0, "gps"),
        grid_code="441502001001001", version=1, reported_at=reported_at, description=f"井盖破损 {n} " * 20,
    )  # fmt: skip


def fill(store: SqliteStore, cases: list[Case]) -> None:
    with store.transaction() as tx:
        first = tx.reserve_change_seqs(len(cases))
        tx.save_cases([(case, first + k) for k, case in enumerate(cases)])


def recent(count: int, start: int = 0) -> list[Case]:
    return [make_case(start + k, reported_at=NOW - 3600 - k * 60) for k in range(count)]


def old(count: int, start: int) -> list[Case]:
    return [make_case(start + k, reported_at=NOW - 200 * DAY - k * 60) for k in range(count)]


@pytest.fixture
def small(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "small.db")
    fill(store, recent(300))
    yield store
    store.close()


@pytest.fixture
def large(tmp_path: Path) -> Iterator[SqliteStore]:
    """The small store's cases, and 6000 more in the same window (older), and 6000 outside it."""
    store = SqliteStore(tmp_path / "large.db")
    fill(store, recent(6300))
    fill(store, old(6000, 10_000))
    yield store
    store.close()


def steps(store: SqliteStore, query: PublicCaseQuery) -> tuple[int, list[Case]]:
    """SQLite virtual machine steps `public_cases(query)` takes on this thread's connection."""
    db = store._db()  # the connection `public_cases` uses on this thread
    counted = [0]

    def count() -> int:
        counted[0] += 1
        return 0

    db.set_progress_handler(count, 1)
    try:
        found = store.public_cases(query)
    finally:
        db.set_progress_handler(None, 1)
    return counted[0], found


WINDOW = PublicCaseQuery(start=NOW - 90 * DAY, end=NOW, limit=20)


@pytest.mark.parametrize(
    "query",
    [
        WINDOW,
        PublicCaseQuery(start=NOW - 90 * DAY, end=NOW, offset=40, limit=20),
        PublicCaseQuery(start=NOW - 90 * DAY, end=NOW, statuses=frozenset({"dispatched"}), limit=20),
        PublicCaseQuery(start=NOW - 90 * DAY, end=NOW, categories=frozenset({"0103", "5101"}), limit=20),
        PublicCaseQuery(start=NOW - 90 * DAY, end=NOW, bbox=(115.0, 22.0, 116.0, 23.0), limit=20),
        PublicCaseQuery(start=NOW - 100 * DAY, end=NOW - 95 * DAY, limit=20),  # nothing in this window
    ],
)
def test_a_page_of_requests_takes_the_same_work_on_a_store_twenty_times_larger(
    small: SqliteStore, large: SqliteStore, query: PublicCaseQuery
) -> None:
    small_steps, small_found = steps(small, query)
    large_steps, large_found = steps(large, query)
    assert [c.case_id for c in small_found] == [c.case_id for c in large_found]  # the newest are shared
    assert large_steps <= small_steps * 1.1 + 50


def test_the_requests_query_walks_the_public_index_and_reads_no_table_scan(large: SqliteStore) -> None:
    db = large._db()
    sql: list[str] = []
    db.set_trace_callback(sql.append)
    try:
        large.public_cases(
            PublicCaseQuery(
                start=NOW - 90 * DAY, end=NOW, categories=frozenset({"0103"}),
                statuses=frozenset({"dispatched"}), bbox=(115.0, 22.0, 116.0, 23.0), limit=20,
            )
        )  # fmt: skip
    finally:
        db.set_trace_callback(None)
    [query] = [s for s in sql if s.lstrip().upper().startswith("SELECT")]
    plan = " | ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {query}"))
    assert "cases_public" in plan
    assert "SCAN cases" not in plan.replace("SCAN cases USING", "")  # no full scan of the table


def test_filters_select_exactly_the_matching_cases_newest_first(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "g.db")
    fill(
        store,
        [
            make_case(1, reported_at=NOW - 100),
            make_case(2, reported_at=NOW - 200, status=Status.CLOSED),
            make_case(3, reported_at=NOW - 300, category="5101"),
            make_case(4, reported_at=NOW - 95 * DAY),
            Case(case_id=f"{5:032x}", category="0103", reporter="w", reported_at=NOW - 400, location=None),
        ],
    )
    everything = PublicCaseQuery(start=NOW - 90 * DAY, end=NOW)

    def ids(**changes: object) -> list[int]:
        from dataclasses import replace

        return [int(c.case_id, 16) for c in store.public_cases(replace(everything, **changes))]  # type: ignore[arg-type]

    assert ids() == [1, 2, 3, 5]
    assert ids(statuses=frozenset({"closed", "voided"})) == [2]
    assert ids(categories=frozenset({"5101"})) == [3]
    assert ids(bbox=(115.0, 22.0, 116.0, 23.0)) == [1, 2, 3]  # no location: never in a box
    assert ids(start=NOW - 200, end=NOW - 100) == [1, 2]  # inclusive at both ends
    assert ids(offset=1, limit=2) == [2, 3]
    store.close()


def _peak_of_a_request(store: SqliteStore, path: str) -> int:
    """The Python memory peak of one `GET` through the Open311 router over this store."""
    import asyncio

    from sync_server.api.open311 import Open311Source, open311_router
    from tests.server.test_open311 import GARBAGE, MANHOLE

    app = FastAPI()
    source = Open311Source(
        store.public_cases,
        store.case_by_number,
        lambda: [MANHOLE, GARBAGE],
        store.public_texts,
        clock=lambda: NOW,
    )
    app.include_router(open311_router(source))

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://city.test") as http:
            return await http.get(path)

    asyncio.run(call())  # warm: imports, caches, the thread's connection
    tracemalloc.start()
    try:
        response = asyncio.run(call())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status_code == 200
    return peak


def test_the_memory_of_a_requests_call_does_not_grow_with_the_store(
    small: SqliteStore, large: SqliteStore
) -> None:
    path = "/open311/v2/requests.json?page_size=20"
    small_peak = _peak_of_a_request(small, path)
    large_peak = _peak_of_a_request(large, path)
    assert large_peak < small_peak * 1.25 + 64 * 1024, (small_peak, large_peak)


def test_migration_7_adds_the_public_index_to_an_existing_store(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "m.db")
    store.close()
    db = sqlite3.connect(tmp_path / "m.db")
    names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    versions = {r[0] for r in db.execute("SELECT version FROM migrations")}
    db.close()
    assert "cases_public" in names
    assert 7 in versions
