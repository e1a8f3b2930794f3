"""Store work off the event loop.

A sync round's writes (sealing, a receipt, a page of changes, the round's log entry) run in a worker
thread, so the app's event loop — its screens, the next request of the same round — goes on while
SQLite writes and syncs its file. The store serialises its connection with a lock, so a write in a
thread and a read on the loop never interleave inside one transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def finish_in_thread(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a worker thread. If the caller is cancelled meanwhile, the call still runs to its
    end (its transaction commits or rolls back whole) before the cancellation goes on: when a
    cancelled round returns, nothing of it is still writing."""
    task = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        raise
