"""Waking phones that wait on the changes feed (a long-poll: `GET /v1/changes?wait=25`).

A waiting request sleeps until the server-wide change counter passes the value it last saw, or its
wait ends. Two things ring the bell:

* a write in this process (a pushed segment) rings it at once, with the counter it committed;
* one watcher task per process reads the counter every `poll_s` seconds while anyone waits, so a
  write made elsewhere (another server process over the same database, the overnight ingest, the
  admin CLI) wakes the waiters too, within `poll_s`.

That watcher is the seam for several server processes over PostgreSQL: there a `LISTEN` on a channel
the store `NOTIFY`s in the committing transaction replaces the periodic read (`ring` with the counter
from the notification payload); waiters do not change.

One bell per event loop (uvicorn worker); all of it runs on that loop. Waiters cost no database work
of their own: one counter read per `poll_s` per process, however many phones wait.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

#: the longest a request may wait for a change (a phone asks for 25 s; proxies cut idle
#: connections after 30 to 60 s)
MAX_WAIT_S = 25


class ChangeBell:
    def __init__(self, read_counter: Callable[[], int], *, poll_s: float = 1.0) -> None:
        """`read_counter`: the store's change counter (blocking; run in a worker thread)."""
        self.read_counter = read_counter
        self.poll_s = poll_s
        self.counter = -1  # the highest value seen; -1 until read
        self._event = asyncio.Event()
        self._waiters = 0
        self._watcher: asyncio.Task[None] | None = None

    def ring(self, counter: int) -> None:
        """A change up to `counter` committed: wake every waiter whose value it passes."""
        if counter > self.counter:
            self.counter = counter
            self._event.set()
            self._event = asyncio.Event()

    async def wait_past(self, seen: int, timeout: float) -> bool:
        """Wait until the counter passes `seen` (True) or `timeout` seconds pass (False)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        self._waiters += 1
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch())
        try:
            while self.counter <= seen:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._event.wait(), remaining)
            return True
        finally:
            self._waiters -= 1

    async def _watch(self) -> None:
        """Read the counter while anyone waits (writes made outside this process)."""
        while self._waiters > 0:
            with contextlib.suppress(Exception):  # a busy database: try again next time
                self.ring(await asyncio.to_thread(self.read_counter))
            await asyncio.sleep(self.poll_s)
