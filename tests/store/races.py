"""Races, run for real: several parties do the same thing at the same moment, round after round, as
threads of one process sharing one store (as `serve`'s API threads do) or as separate processes each
opening the store by its URL (as several `serve` processes, or a `serve` and an `ingest`, do).

Every round starts at a barrier, so the parties meet inside the code under test; a round's result is
what each party got (a value, or the code of the `GridsyncError` it raised). A race that a lock
keeps correct fails within a few rounds once that lock is removed (docs/server.md, "The store
contract", says which removal each race was checked against).
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from shared.errors import GridsyncError
from tests.store import world

ROUND_TIMEOUT_S = 60.0
# What a party needs (opened once per party, or once for all threads), and what it does each round.
Setup = Callable[[Path], Any]
Act = Callable[[Any, Any], Any]


def _settle_setup(data_dir: Path) -> world.Server:
    return world.server(data_dir)


def _settle(party: world.Server, blob: bytes) -> Any:
    now = world.MONDAY_10AM
    return party.reconciler.apply_segment(blob, now, now)["status"]


def _nonce(party: world.Server, job: tuple[str, str]) -> Any:
    device_id, nonce = job
    now = world.MONDAY_10AM
    return party.store.claim_nonce(device_id, nonce, now, now - 600)


def _chunk(party: world.Server, job: tuple[str, int, bytes, str]) -> Any:
    sha, size, chunk, device_id = job
    return party.photos.put_chunk(sha, 0, size, chunk, device_id)["received"]


def _reserve(party: world.Server, count: int) -> Any:
    with party.store.transaction() as tx:
        return tx.reserve_change_seqs(count)


def _push_own(party: world.Server, blobs: tuple[bytes, ...]) -> Any:
    """Each party pushes its own phone's segment (`blobs[party]`): processes only."""
    now = world.MONDAY_10AM
    return party.reconciler.apply_segment(blobs[party.party], now, now)["status"]


def _sweep_overdue(party: world.Server, now: int) -> Any:
    return party.reconciler.sweep_overdue(now)


TASKS: dict[str, tuple[Setup, Act]] = {
    "overdue": (_settle_setup, _sweep_overdue),
    "push_own": (_settle_setup, _push_own),
    "reserve": (_settle_setup, _reserve),
    "settle": (_settle_setup, _settle),
    "nonce": (_settle_setup, _nonce),
    "chunk": (_settle_setup, _chunk),
}


def _play(act: Act, party: Any, jobs: Sequence[Any], barrier: Any) -> list[Any]:
    results = []
    for job in jobs:
        barrier.wait(ROUND_TIMEOUT_S)
        try:
            results.append(act(party, job))
        except GridsyncError as exc:
            results.append(exc.code)
    return results


def _process_party(
    task: str, data_dir: Path, jobs: Sequence[Any], barrier: Any, out: Any, index: int
) -> None:
    setup, act = TASKS[task]
    party = setup(data_dir)
    party.party = index
    try:
        out.put((index, _play(act, party, jobs, barrier)))
    except BaseException as exc:  # the parent reports it instead of waiting for a result
        out.put((index, f"crashed: {exc!r}"))
        raise
    finally:
        party.close()


def in_processes(task: str, data_dir: Path, jobs: Sequence[Any], parties: int = 2) -> list[list[Any]]:
    """Each party a process of its own (spawned: nothing inherited but the arguments). Returns, per
    round, what each party got."""
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(parties), ctx.Queue()
    procs = [
        ctx.Process(target=_process_party, args=(task, data_dir, list(jobs), barrier, out, i))
        for i in range(parties)
    ]
    for proc in procs:
        proc.start()
    try:
        got = dict(out.get(timeout=ROUND_TIMEOUT_S * (len(jobs) + 2)) for _ in procs)
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
                proc.join()
    for index, results in got.items():
        assert isinstance(results, list), f"party {index} {results}"
    return [[got[i][r] for i in range(parties)] for r in range(len(jobs))]


def in_threads(task: str, data_dir: Path, jobs: Sequence[Any], parties: int = 2) -> list[list[Any]]:
    """Each party a thread of this process, all over one open store (as `serve`'s API threads)."""
    setup, act = TASKS[task]
    shared = setup(data_dir)
    barrier = threading.Barrier(parties)
    got: dict[int, Any] = {}

    def run(index: int) -> None:
        try:
            got[index] = _play(act, shared, jobs, barrier)
        except BaseException as exc:
            got[index] = f"crashed: {exc!r}"
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(parties)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(ROUND_TIMEOUT_S * (len(jobs) + 2))
    finally:
        shared.close()
    for index in range(parties):
        assert isinstance(got.get(index), list), f"party {index}: {got.get(index)}"
    return [[got[i][r] for i in range(parties)] for r in range(len(jobs))]


RUNNERS = {"threads": in_threads, "processes": in_processes}
