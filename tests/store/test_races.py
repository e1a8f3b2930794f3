"""Concurrent writers, in threads and in processes, each race repeated `ROUNDS` times on every store:
the guarantees of `sync_server.store.base` that only show under concurrency."""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shared.model import Case
from sync_server.changes import collect_changes
from sync_server.store import open_store
from tests.server.device import GRID_A, SPOT_A, SPOT_B
from tests.store import races, world

ROUNDS = 50


@pytest.fixture(params=sorted(races.RUNNERS))
def race(request: pytest.FixtureRequest) -> Callable[..., list[list[Any]]]:
    runner: Callable[..., list[list[Any]]] = races.RUNNERS[request.param]
    return runner


def test_the_same_segment_settled_twice_at_once_is_applied_once_and_resent_once(
    data_dir: Path, race: Callable[..., list[list[Any]]]
) -> None:
    store = open_store(data_dir)
    try:
        phone = world.phone(store, data_dir)
    finally:
        store.close()
    blobs = [phone.seal([phone.create()]) for _ in range(ROUNDS)]
    rounds = race("settle", data_dir, blobs)
    assert [sorted(got) for got in rounds] == [["applied", "resent"]] * ROUNDS
    store = open_store(data_dir)
    try:  # each (device, seq) in the op log exactly once, the device's position at the last
        assert [row.seq for row in store.outcomes_of(phone.device_id, 1, ROUNDS)] == list(
            range(1, ROUNDS + 1)
        )
        device = store.device(phone.device_id)
        assert device is not None and device.last_seq == ROUNDS
    finally:
        store.close()


def test_change_numbers_reserved_at_once_are_never_handed_out_twice(
    data_dir: Path, race: Callable[..., list[list[Any]]]
) -> None:
    firsts = [first for got in race("reserve", data_dir, [3] * ROUNDS) for first in got]
    assert all(isinstance(first, int) for first in firsts), firsts  # no party refused
    numbers = [first + i for first in firsts for i in range(3)]
    assert len(set(numbers)) == len(numbers) == 2 * 3 * ROUNDS


def test_two_overdue_sweeps_at_once_flag_each_case_once(
    data_dir: Path, race: Callable[..., list[list[Any]]]
) -> None:
    """Round r's two cases fall due just before round r's sweep (10:00-10:50 on a working Monday):
    one sweep flags both, the other finds nothing; each flag takes one change number."""
    now = world.MONDAY_10AM
    cases = [
        Case(case_id=uuid.uuid4().hex, category="0101", reporter="zhang.wei", status="dispatched",
             grid_code=GRID_A, reported_at=now - 3600, deadline=now + r * 60 + k, version=2)
        for r in range(ROUNDS) for k in (0, 1)
    ]  # fmt: skip
    store = open_store(data_dir)
    try:
        with store.transaction() as tx:
            first = tx.reserve_change_seqs(len(cases))
            tx.save_cases([(case, first + i) for i, case in enumerate(cases)])
        before = store.change_seq()
        rounds = race("overdue", data_dir, [now + r * 60 + 30 for r in range(ROUNDS)])
        assert [sorted(got, key=str) for got in rounds] == [[0, 2]] * ROUNDS
        assert store.overdue_count() == 2 * ROUNDS and store.change_seq() == before + 2 * ROUNDS
    finally:
        store.close()


def test_a_nonce_used_twice_at_once_is_accepted_once(
    data_dir: Path, race: Callable[..., list[list[Any]]]
) -> None:
    device_id = uuid.uuid4().hex
    rounds = race("nonce", data_dir, [(device_id, uuid.uuid4().hex) for _ in range(ROUNDS)])
    assert [sorted(got) for got in rounds] == [[False, True]] * ROUNDS


def test_photo_chunks_at_the_same_offset_at_once_move_it_exactly_once(
    data_dir: Path, race: Callable[..., list[list[Any]]]
) -> None:
    device_id = uuid.uuid4().hex
    rng = random.Random(12)
    blobs = [rng.randbytes(3000) for _ in range(ROUNDS)]
    jobs = [(hashlib.sha256(b).hexdigest(), len(b), b[:1000], device_id) for b in blobs]
    rounds = race("chunk", data_dir, jobs)
    assert [sorted(got, key=str) for got in rounds] == [[1000, "photo.bad_offset"]] * ROUNDS
    server = world.server(data_dir)
    try:  # every upload resumes where the winner left it, and the blob is whole
        for blob, (sha, size, _, _) in zip(blobs, jobs, strict=True):
            assert server.photos.status(sha, device_id)["received"] == 1000
            assert server.photos.put_chunk(sha, 1000, size, blob[1000:], device_id)["complete"] is True
            assert server.photos.blobs.read(sha) == blob
    finally:
        server.close()


def _push_all(data_dir: Path, blobs: list[bytes], done: threading.Event, failures: list[str]) -> None:
    server = world.server(data_dir)
    try:
        for blob in blobs:
            receipt = server.reconciler.apply_segment(blob, world.MONDAY_10AM, world.MONDAY_10AM)
            if [o["outcome"] for o in receipt["outcomes"]] != ["applied", "applied"]:
                failures.append(repr(receipt))
    except Exception as exc:
        failures.append(repr(exc))
    finally:
        server.close()
        done.set()


def test_a_changes_reader_beside_concurrent_pushes_never_skips_a_change(data_dir: Path) -> None:
    """Two writers (threads, each with a store of its own, so connections of their own, as two
    processes would have) push segments of new cases while a reader pages the feed from cursor 0,
    three items a page, as fast as it can: every case committed is in what the reader saw. Each
    poll is a race with the writers' commits."""
    store = open_store(data_dir)
    try:
        people = (("zhang.wei", SPOT_A), ("li.na", SPOT_B))
        phones = [(world.phone(store, data_dir, worker), spot) for worker, spot in people]
        streams = [[p.seal(world.creates(p, 2, spot=spot)) for _ in range(ROUNDS)] for p, spot in phones]
        done = [threading.Event() for _ in phones]
        failures: list[str] = []
        writers = [
            threading.Thread(target=_push_all, args=(data_dir, blobs, flag, failures))
            for blobs, flag in zip(streams, done, strict=True)
        ]
        for writer in writers:
            writer.start()
        seen: set[str] = set()
        cursor, polls = 0, 0
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            finished = all(flag.is_set() for flag in done)  # before the poll: then the poll is the last
            page = collect_changes(store, "reader", world.ADMIN, cursor, 3, world.MONDAY_10AM)
            polls += 1
            seen.update(json.loads(doc)["case_id"] for doc in page["cases"])
            assert page["cursor"] >= cursor
            cursor = page["cursor"]
            if finished and not page["more"]:
                break
        for writer in writers:
            writer.join(30)
        assert not failures
        stored = {case.case_id for case in store.cases()}
        assert len(stored) == 2 * 2 * ROUNDS
        assert seen == stored
        assert polls > ROUNDS  # the reader really raced the writers
    finally:
        store.close()


def test_a_changes_reader_beside_pushes_from_two_processes_never_skips_a_change(data_dir: Path) -> None:
    """The same, with the two writers as processes of their own (each round they commit at about
    the same moment), the reader in this one."""
    store = open_store(data_dir)
    try:
        people = (("zhang.wei", SPOT_A), ("li.na", SPOT_B))
        phones = [(world.phone(store, data_dir, worker), spot) for worker, spot in people]
        streams = [[p.seal(world.creates(p, 2, spot=spot)) for _ in range(ROUNDS)] for p, spot in phones]
        rounds: list[list[Any]] = []
        writers = threading.Thread(
            target=lambda: rounds.extend(
                races.in_processes("push_own", data_dir, list(zip(*streams, strict=True)))
            )
        )
        writers.start()
        seen: set[str] = set()
        cursor, polls = 0, 0
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            finished = not writers.is_alive()  # before the poll: then the poll is the last
            page = collect_changes(store, "reader", world.ADMIN, cursor, 3, world.MONDAY_10AM)
            polls += 1
            seen.update(json.loads(doc)["case_id"] for doc in page["cases"])
            assert page["cursor"] >= cursor
            cursor = page["cursor"]
            if finished and not page["more"]:
                break
        writers.join(30)
        assert rounds == [["applied", "applied"]] * ROUNDS
        stored = {case.case_id for case in store.cases()}
        assert len(stored) == 2 * 2 * ROUNDS
        assert seen == stored
        assert polls > ROUNDS
    finally:
        store.close()
