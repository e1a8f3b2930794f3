"""The changes feed reads a person's cases, not the city's (issue 13, store migration 12).

A worker's pull walked `cases` by change number over every case and filtered each row. These tests
measure work, not time: the query plan, and the SQLite virtual machine steps `changed_cases` takes
(a progress handler called every step) on a city twenty times larger around the same cases of hers.
They also check that the indexed query returns exactly what the old filter did, page by page, and
that pages pulled while cases are being written skip no committed change.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.model import Actor, Case, Role
from sync_server.changes import collect_changes, scope_of
from sync_server.store import SqliteStore
from sync_server.store.base import ChangeScope

HERS = ("441502001001001", "441502001001002")
OTHERS = tuple(f"4415020010020{n:02d}" for n in range(40))
WORKER = Actor("zhang.wei", Role.WORKER, grids=frozenset(HERS))


def make_case(n: int, grid: str, *, reporter: str = "li.na", department: str | None = None,
              handler: str | None = None) -> Case:  # fmt: skip
    return Case(
        case_id=f"{n:032x}", case_no=f"2026{n:06d}", category="0103", reporter=reporter, grid_code=grid,
        department=department, handler=handler, version=1, reported_at=1772416800 + n,
        description=f"井盖破损 {n} " * 10,
    )  # fmt: skip


def fill(store: SqliteStore, cases: list[Case]) -> None:
    with store.transaction() as tx:
        first = tx.reserve_change_seqs(len(cases))
        tx.save_cases([(case, first + k) for k, case in enumerate(cases)])


def city(store: SqliteStore, others: int) -> None:
    """Her 300 cases (and 20 she reported elsewhere) interleaved in change order with `others` cases
    in other grids: the same cases of hers in every city."""
    rng = random.Random(7)
    mine = [make_case(n, HERS[n % 2]) for n in range(300)]
    mine += [make_case(300 + n, OTHERS[n % 40], reporter="zhang.wei") for n in range(20)]
    rest = [make_case(10_000 + n, rng.choice(OTHERS)) for n in range(others)]
    everything = mine + rest
    rng.shuffle(everything)
    for k in range(0, len(everything), 500):
        fill(store, everything[k : k + 500])


@pytest.fixture
def small(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "small.db")
    city(store, 300)
    yield store
    store.close()


@pytest.fixture
def large(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "large.db")
    city(store, 12_000)
    yield store
    store.close()


def steps(store: SqliteStore, cursor: int, limit: int, scope: ChangeScope) -> tuple[int, list[str]]:
    db = store._db()  # the connection `changed_cases` uses on this thread
    counted = [0]

    def count() -> int:
        counted[0] += 1
        return 0

    db.set_progress_handler(count, 1)
    try:
        found = store.changed_cases(cursor, limit, scope)
    finally:
        db.set_progress_handler(None, 1)
    return counted[0], [c.case.case_id for c in found]


def test_a_workers_pull_takes_the_same_work_in_a_city_forty_times_larger(
    small: SqliteStore, large: SqliteStore
) -> None:
    scope = scope_of(WORKER)
    small_steps, small_found = steps(small, 0, 1000, scope)
    large_steps, large_found = steps(large, 0, 1000, scope)
    assert sorted(small_found) == sorted(large_found) and len(large_found) == 320
    assert large_steps <= small_steps * 1.1 + 200, (small_steps, large_steps)  # was ~40×: every row read
    page_small, _ = steps(small, 0, 50, scope)
    page_large, _ = steps(large, 0, 50, scope)
    assert page_large <= page_small * 1.1 + 200, (page_small, page_large)


def test_the_workers_and_handlers_queries_use_the_visibility_indexes(large: SqliteStore) -> None:
    db = large._db()
    handler = Actor("wang.h", Role.HANDLER, department="municipal")
    for actor, indexes in ((WORKER, ("cases_feed_grid", "cases_feed_reporter")),
                           (handler, ("cases_feed_department", "cases_feed_handler"))):  # fmt: skip
        sql: list[str] = []
        db.set_trace_callback(sql.append)
        try:
            large.changed_cases(0, 100, scope_of(actor))
        finally:
            db.set_trace_callback(None)
        [query] = [s for s in sql if s.lstrip().upper().startswith("SELECT")]
        plan = " | ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {query}"))
        for index in indexes:
            assert index in plan, plan
        assert "SCAN c " not in plan and "SCAN cases " not in plan + " ", plan  # no walk of the table


def _reference(cases: dict[str, tuple[int, Case]], cursor: int, limit: int, scope: ChangeScope) -> list[str]:
    """The old feed: every case by change number, filtered row by row."""

    def visible(case: Case) -> bool:
        if scope.everything:
            return True
        if scope.department is not None or scope.handler is not None:
            return case.handler == scope.handler or (
                scope.department is not None and case.department == scope.department
            )
        return case.grid_code in scope.grids or case.reporter == scope.reporter

    ordered = sorted(cases.values(), key=lambda item: item[0])
    return [c.case_id for seq, c in ordered if seq > cursor and visible(c)][:limit]


@pytest.mark.parametrize("seed", range(4))
def test_pages_hold_exactly_what_the_row_by_row_filter_held(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    store = SqliteStore(tmp_path / "r.db")
    grids = HERS + OTHERS[:4]
    people = ("zhang.wei", "li.na", "wang.h")
    held: dict[str, tuple[int, Case]] = {}
    for _ in range(30):  # writes in batches; some cases written again (a new change number)
        batch: dict[str, Case] = {}
        for _ in range(rng.randint(1, 12)):
            n = rng.randrange(120)
            batch[f"{n:032x}"] = make_case(
                n, rng.choice(grids), reporter=people[n % 3],  # a case's reporter never changes
                department=rng.choice((None, "municipal", "water")), handler=rng.choice((None, *people)),
            )  # fmt: skip
        with store.transaction() as tx:
            first = tx.reserve_change_seqs(len(batch))
            tx.save_cases([(case, first + k) for k, case in enumerate(batch.values())])
        for k, case in enumerate(batch.values()):
            held[case.case_id] = (first + k, case)
    scopes = [
        ChangeScope(everything=True),
        scope_of(WORKER),
        ChangeScope(grids=(OTHERS[0],), reporter="li.na"),
        ChangeScope(grids=(), reporter="wang.h"),
        ChangeScope(grids=(HERS[0], HERS[0]), reporter="nobody"),
        ChangeScope(department="municipal", handler="wang.h"),
        ChangeScope(department=None, handler="li.na"),
    ]
    top = store.change_seq()
    for scope in scopes:
        for _ in range(15):
            cursor, limit = rng.randint(0, top), rng.choice((1, 2, 5, 17, 1000))
            got = [c.case.case_id for c in store.changed_cases(cursor, limit, scope)]
            assert got == _reference(held, cursor, limit, scope), (scope, cursor, limit)
    store.close()


def test_pages_pulled_while_cases_are_written_skip_no_committed_change(tmp_path: Path) -> None:
    """A writer thread commits cases (hers and others', many written again at a new version) while
    the worker pages through the feed, seven items a page; when the writer is done, one last drain.
    She has seen every case of hers at its last version."""
    store = SqliteStore(tmp_path / "live.db")
    rng = random.Random(3)
    done = threading.Event()

    def writer() -> None:
        try:
            for version in range(1, 151):
                batch = {}
                for _ in range(rng.randint(1, 6)):
                    case = make_case(rng.randrange(200), rng.choice(HERS + OTHERS[:3]))
                    case.version = version
                    batch[case.case_id] = case
                fill(store, list(batch.values()))
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    seen: dict[str, int] = {}
    cursor, pages = 0, 0
    while True:
        finished = done.is_set()  # read before the page: a page begun after the last commit
        page = collect_changes(store, "no-device", WORKER, cursor, 7, 0)
        pages += 1
        for doc in page["cases"]:
            case = json.loads(doc)
            assert case["grid_code"] in HERS
            seen[case["case_id"]] = max(seen.get(case["case_id"], 0), case["version"])
        cursor = page["cursor"]
        if finished and not page["more"]:
            break
    thread.join(30)
    final = {c.case_id: c.version for c in store.cases() if c.grid_code in HERS}
    assert {cid: seen.get(cid) for cid in final} == final and pages > 20  # (cases moved away: seen earlier)
    store.close()
