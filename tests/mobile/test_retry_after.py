"""The phone honours the server's Retry-After: a rate-limited round is not retried, not even on a
kick, before the time the server named; then the work goes through."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from mobile.core.sync_loop import SyncLoop
from sync_server.api.ratelimit import MemoryBuckets, Rule
from tests.mobile.conftest import GRID_A, Server, fix_in, run


async def _until(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def test_a_rate_limited_phone_waits_for_retry_after_even_when_kicked(server: Server, tmp_path: Path) -> None:
    phone = server.device(tmp_path / "p", "zhang.wei")
    assert phone.identity is not None
    state = server.app.state
    state.limiter = MemoryBuckets(clock=lambda: float(server.clock()))
    state.rate_rules = dataclasses.replace(state.rate_rules, push_per_device=Rule("push/device", 2, 1))
    assert state.limiter.take(state.rate_rules.push_per_device, phone.identity.device_id) == 0  # spent

    async def scenario() -> None:
        case_id = phone.report(category="0101", location=fix_in(GRID_A))
        loop = SyncLoop(phone, interval=1000, write_delay=0.0, base_backoff=0.01, max_backoff=0.05)
        loop.start()
        await _until(lambda: loop.rounds >= 1)
        assert loop.last_report is not None
        assert {p.code for p in loop.last_report.problems} == {"request.rate_limited"}  # nothing else tried
        assert loop.server_wait() == 30  # one token at 2 a minute
        loop.kick()
        await asyncio.sleep(0.5)  # a backoff of 0.01 s would have retried many times by now
        assert loop.rounds == 1 and server.case(case_id) is None
        server.clock.now += 30  # the wait is over (the phone's and the server's clock alike)
        loop.kick()
        await _until(lambda: server.case(case_id) is not None and phone.pending().empty)
        await loop.stop()

    run(scenario())
