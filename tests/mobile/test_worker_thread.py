"""A sync round writes off the event loop: while it seals, stores a receipt or logs the round, the
app's loop goes on (its screens stay live; on the bench, other phones' rounds go on). Each write is
still one transaction, and the round's result is the same."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mobile.core import segments
from mobile.core.store import Store
from tests.mobile.conftest import GRID_A, Server, fix_in, run

TICKS: list[threading.Event] = []  # the calls waiting for the loop to tick


def _held_until_the_loop_ticks(real: Callable[..., Any], seen: list[bool]) -> Callable[..., Any]:
    """`real`, run only once the event loop has ticked while this call waits (or 10 s have passed)."""

    def held(*args: Any, **kw: Any) -> Any:
        ticked = threading.Event()
        TICKS.append(ticked)
        seen.append(ticked.wait(timeout=10))
        return real(*args, **kw)

    return held


async def _ticking(round_: Any) -> Any:
    """Run a round while a ticker on the same loop sets each waiting call's event."""
    done = False

    async def ticker() -> None:
        while not done:
            for event in TICKS:
                event.set()
            await asyncio.sleep(0.001)

    tick = asyncio.ensure_future(ticker())
    try:
        return await round_
    finally:
        done = True
        await tick
        TICKS.clear()


@pytest.mark.parametrize("step", ["seal_pending", "record_receipt"])
def test_the_loop_goes_on_while_a_round_seals_and_stores_its_receipt(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    worker = server.device(tmp_path / "worker", "zhang.wei")
    case_id = worker.report(category="0101", location=fix_in(GRID_A), description="井盖松动")
    seen: list[bool] = []
    monkeypatch.setattr(segments, step, _held_until_the_loop_ticks(getattr(segments, step), seen))
    report = run(_ticking(worker.sync()))
    assert report.ok and report.ops_sent == 1
    assert seen and all(seen), f"the event loop stood still during {step}"
    assert server.case(case_id).version == 1
    assert worker.pending().empty


def test_the_loop_goes_on_while_the_round_is_logged(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = server.device(tmp_path / "worker", "zhang.wei")
    seen: list[bool] = []
    monkeypatch.setattr(Store, "log_sync", _held_until_the_loop_ticks(Store.log_sync, seen))
    report = run(_ticking(worker.sync()))
    assert report.ok and seen == [True]
    assert worker.store.last_sync() is not None
