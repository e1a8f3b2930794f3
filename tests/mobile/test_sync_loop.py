"""The background sync loop: on start, after writes, on kicks, backing off, surviving stalls."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import httpx

from mobile.core.sync_loop import SyncLoop
from tests.mobile.conftest import GRID_A, Server, fix_in, run
from tests.mobile.transports import FaultyTransport, always


async def _until(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def test_the_loop_syncs_on_start_and_shortly_after_a_write(server: Server, tmp_path: Path) -> None:
    phone = server.device(tmp_path / "p", "zhang.wei")

    async def scenario() -> None:
        loop = SyncLoop(phone, interval=1000, write_delay=0.01)
        loop.start()
        await _until(lambda: loop.rounds >= 1)
        case_id = phone.report(category="0101", location=fix_in(GRID_A))
        await _until(lambda: server.case(case_id) is not None and phone.pending().empty)
        loop.kick()
        rounds = loop.rounds
        await _until(lambda: loop.rounds > rounds)
        await loop.stop()
        assert not loop.running

    run(scenario())


def test_failed_rounds_back_off_exponentially_with_jitter(server: Server, tmp_path: Path) -> None:
    phone = server.device(tmp_path / "p", "zhang.wei")
    loop = SyncLoop(phone, base_backoff=5, max_backoff=300, rng=random.Random(1))
    for failures, cap in [(1, 5), (2, 10), (3, 20), (6, 160), (10, 300)]:
        loop.failures = failures
        delays = [loop.backoff() for _ in range(50)]
        assert all(cap * 0.5 <= d <= cap * 1.5 for d in delays)
        assert len({round(d, 6) for d in delays}) > 40  # jittered, not in step


def test_an_unreachable_server_counts_failures_and_recovers(server: Server, tmp_path: Path) -> None:
    faulty = FaultyTransport(server.transport)
    server.transport = faulty
    phone = server.device(tmp_path / "p", "zhang.wei")
    faulty.decide = always("down")

    async def scenario() -> None:
        loop = SyncLoop(phone, base_backoff=0.01, max_backoff=0.05, write_delay=0.0)
        loop.start()
        case_id = phone.report(category="0101", location=fix_in(GRID_A))
        await _until(lambda: loop.failures >= 3)
        assert loop.last_report is not None and loop.last_report.problems[0].code == "network.unreachable"
        faulty.decide = always("pass")
        await _until(lambda: loop.failures == 0 and server.case(case_id) is not None)
        await loop.stop()

    run(scenario())


def test_a_stalled_round_is_cancelled_and_retried_with_the_store_intact(
    server: Server, tmp_path: Path
) -> None:
    faulty = FaultyTransport(server.transport)
    server.transport = faulty
    phone = server.device(tmp_path / "p", "zhang.wei")
    stalls = {"left": 2}

    def decide(request: httpx.Request) -> str:
        if request.url.path == "/v1/segments" and stalls["left"] > 0:
            stalls["left"] -= 1
            return "hang"
        return "pass"

    faulty.decide = decide

    async def scenario() -> None:
        loop = SyncLoop(phone, stall_timeout=0.2, base_backoff=0.01, max_backoff=0.02, write_delay=0.0)
        case_id = phone.report(category="0101", location=fix_in(GRID_A))
        loop.start()
        await _until(lambda: server.case(case_id) is not None and phone.pending().empty)
        assert loop.stalls == 2
        await loop.stop()

    run(scenario())
    assert run(phone.sync()).ok


def test_stopping_the_loop_mid_round_leaves_the_store_consistent(server: Server, tmp_path: Path) -> None:
    faulty = FaultyTransport(server.transport)
    server.transport = faulty
    phone = server.device(tmp_path / "p", "zhang.wei")
    faulty.decide = always("hang")
    case_id = phone.report(category="0101", location=fix_in(GRID_A))

    async def scenario() -> None:
        loop = SyncLoop(phone)
        loop.start()
        await _until(lambda: any("hang" in r for r in faulty.requests))
        await loop.stop()

    run(scenario())
    assert phone.pending().ops == 1  # sealed, not lost, not doubled
    faulty.decide = always("pass")
    assert run(phone.sync()).ok
    assert server.case(case_id) is not None and phone.pending().empty


def test_busy_is_told_at_the_start_and_end_of_every_round_even_a_stalled_or_stopped_one(
    server: Server, tmp_path: Path
) -> None:
    faulty = FaultyTransport(server.transport)
    server.transport = faulty
    phone = server.device(tmp_path / "p", "zhang.wei")
    stalls = {"left": 1}

    def decide(request: httpx.Request) -> str:
        if request.url.path == "/v1/segments" and stalls["left"] > 0:
            stalls["left"] -= 1
            return "hang"
        return "pass"

    faulty.decide = decide
    told: list[bool] = []

    async def scenario() -> None:
        loop = SyncLoop(
            phone,
            stall_timeout=0.2,
            base_backoff=0.01,
            max_backoff=0.02,
            write_delay=0.0,
            on_busy=told.append,
        )
        phone.report(category="0101", location=fix_in(GRID_A))
        loop.start()
        await _until(lambda: loop.stalls == 1 and loop.rounds >= 1 and phone.pending().empty)
        faulty.decide = always("hang")
        loop.kick()
        await _until(lambda: loop.busy)
        await loop.stop()
        assert not loop.busy

    run(scenario())
    assert told[:2] == [True, False]  # the stalled round ended too
    assert told == [True, False] * (len(told) // 2) and len(told) >= 6
