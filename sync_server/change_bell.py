"""Waking phones that wait on the changes feed (a long-poll: `GET /v1/changes?wait=25`).

A waiting request sleeps until the server-wide change counter passes the value it last saw, or its
wait ends. Two things ring the bell:

* a write in this process (a pushed segment) rings it at once, with the counter it committed;
* a write made elsewhere (another server process over the same database, the overnight ingest, the
  admin CLI): on a store with notices (`Store.change_notices`; PostgreSQL: `LISTEN`/`NOTIFY`), one
  listener task per process rings it with the counter each commit announces; otherwise, and while
  the listener's connection is down, one watcher task reads the counter every `poll_s` seconds
  while anyone waits, so such a write wakes the waiters within `poll_s`.

The listener runs while anyone waits: lost, the watcher's reads take over at once and it listens
again after `relisten_s` (its first notice is the counter as committed, so nothing in between is
missed).

One bell per event loop (uvicorn worker); all of it runs on that loop. Waiters cost no database work
of their own: one listening connection, or one counter read per `poll_s`, per process, however many
phones wait.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable

#: the longest a request may wait for a change (a phone asks for 25 s; proxies cut idle
#: connections after 30 to 60 s)
MAX_WAIT_S = 25


class ChangeBell:
    def __init__(
        self,
        read_counter: Callable[[], int],
        *,
        poll_s: float = 1.0,
        listen: Callable[[], AsyncGenerator[int | None, None]] | None = None,
        relisten_s: float = 2.0,
    ) -> None:
        """`read_counter`: the store's change counter (blocking; run in a worker thread).
        `listen`: the store's `change_notices()`, if it has them."""
        self.read_counter = read_counter
        self.poll_s = poll_s
        self.listen = listen
        self.relisten_s = relisten_s
        self.listening = False  # the listener hears every commit: the watcher need not read
        self._listener: asyncio.Task[None] | None = None
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
        if self.listen is not None and (self._listener is None or self._listener.done()):
            self._listener = asyncio.create_task(self._listen())
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
            if not self.listening:
                with contextlib.suppress(Exception):  # a busy database: try again next time
                    self.ring(await asyncio.to_thread(self.read_counter))
            await asyncio.sleep(self.poll_s)

    async def _listen(self) -> None:
        """Ring on the store's notices while anyone waits (two heartbeats with no waiter end it)."""
        assert self.listen is not None
        idle = 0
        while self._waiters > 0:
            try:
                async with contextlib.aclosing(self.listen()) as notices:
                    async for counter in notices:
                        if counter is not None:
                            self.listening = True
                            self.ring(counter)
                        idle = 0 if self._waiters else idle + 1
                        if idle >= 2:
                            return
            except Exception:  # the connection is lost (or cannot be made): the watcher reads
                pass
            finally:
                self.listening = False
            await asyncio.sleep(self.relisten_s)
