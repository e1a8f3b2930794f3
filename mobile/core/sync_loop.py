"""Syncing in the background while the app is open: the phone has no background service.

A `SyncLoop` is one asyncio task. It syncs when started, when asked (`kick()`: pull-to-refresh),
when the app comes back to the foreground (`resume()`), shortly after every local write, and on a
timer. After a failed round it backs off exponentially with jitter (so a thousand phones coming back
into coverage do not hit the server in step); local writes then wait for the backoff, an explicit
kick does not (but nothing, not even a kick, starts a round before the time a server's
`Retry-After` named: `Device.retry_gate`). A round that stalls past `stall_timeout` is cancelled and
retried — cancellation is safe because the store commits step by step and no transaction spans an await.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from mobile.core.device import Device
from mobile.core.views import SyncProgress, SyncReport


class SyncLoop:
    def __init__(
        self,
        device: Device,
        *,
        interval: float = 300.0,
        write_delay: float = 2.0,
        stall_timeout: float = 180.0,
        base_backoff: float = 5.0,
        max_backoff: float = 900.0,
        rng: random.Random | None = None,
        on_report: Callable[[SyncReport], None] | None = None,
        on_progress: Callable[[SyncProgress], None] | None = None,
        on_busy: Callable[[bool], None] | None = None,
    ) -> None:
        self.device = device
        self.interval = interval
        self.write_delay = write_delay
        self.stall_timeout = stall_timeout
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.rng = rng or random.Random()
        self.on_report = on_report
        self.on_progress = on_progress
        #: told True when a round begins and False when it ends, however it ends (a report, a stall,
        #: an error, a stop): a screen showing "syncing…" needs both, `on_report` alone is not enough
        self.on_busy = on_busy
        self.busy = False
        self.failures = 0
        self.rounds = 0
        self.stalls = 0
        self.last_report: SyncReport | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._urgent = False
        self._dirty = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._unsubscribe: Callable[[], None] | None = None

    # --- control ----------------------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Start the loop on the running event loop (it syncs at once)."""
        if self._task is not None and not self._task.done():
            return self._task
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stopping = False
        self._unsubscribe = self.device.subscribe(self._written)
        self._task = asyncio.create_task(self._run(), name="gridsync-sync-loop")
        return self._task

    async def stop(self) -> None:
        """End the loop (mid-round is fine) and wait for it. Asks politely (a flag the loop checks)
        and by cancellation, repeatedly: on Python 3.11 a cancellation racing a finishing await can be
        lost, and a loop that missed it must still end."""
        self._stopping = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        task, self._task = self._task, None
        if task is None:
            return
        while not task.done():
            task.cancel()
            self._set()
            await asyncio.wait({task}, timeout=0.5)
        if not task.cancelled():
            task.exception()  # retrieve it: an ended loop has nothing left to report

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def kick(self) -> None:
        """Sync now, even during a backoff. Safe to call from any thread."""
        self._urgent = True
        self._set()

    def resume(self) -> None:
        """The app came back to the foreground."""
        self.kick()

    def _written(self) -> None:
        self._dirty = True
        if self.failures == 0:
            self._set()

    def _set(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set()
        else:
            loop.call_soon_threadsafe(wake.set)

    # --- the loop ---------------------------------------------------------------------------------

    def backoff(self) -> float:
        """Seconds to wait after `failures` failed rounds in a row: exponential, capped, with jitter."""
        if self.failures == 0:
            return self.interval
        delay = min(self.max_backoff, self.base_backoff * 2.0 ** (self.failures - 1))
        return float(delay * self.rng.uniform(0.5, 1.5))

    async def _round(self) -> None:
        self._busy(True)
        try:
            await self._sync_once()
        finally:
            self._busy(False)

    def _busy(self, busy: bool) -> None:
        self.busy = busy
        if self.on_busy is not None:
            self.on_busy(busy)

    async def _sync_once(self) -> None:
        self._dirty = False
        self._urgent = False
        # asyncio.wait rather than wait_for: wait_for on 3.11 can swallow a cancellation.
        sync = asyncio.create_task(self.device.sync(self.on_progress))
        try:
            done, _ = await asyncio.wait({sync}, timeout=self.stall_timeout)
        except asyncio.CancelledError:
            sync.cancel()
            raise
        if not done:
            sync.cancel()  # stalled: cancel (the store stays consistent) and count it as a failure
            await asyncio.wait({sync})
            self.stalls += 1
            self.failures += 1
            return
        report = sync.result()
        self.rounds += 1
        self.last_report = report
        self.failures = 0 if report.ok else self.failures + 1
        if self.on_report is not None:
            self.on_report(report)

    def server_wait(self) -> int:
        """Seconds left of the wait the server asked for (`Retry-After`); 0 if none."""
        return self.device.retry_gate.remaining(self.device.clock())

    async def _pause(self, delay: float) -> None:
        """Wait `delay` seconds or until woken, whichever comes first."""
        assert self._wake is not None
        if delay <= 0:
            return
        waiter = asyncio.create_task(self._wake.wait())
        try:
            await asyncio.wait({waiter}, timeout=delay)
        finally:
            waiter.cancel()

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            try:
                await self._round()
            except asyncio.CancelledError:
                raise
            except Exception:  # never let a bug end background sync; count it and back off
                self.failures += 1
            delay = self.backoff()
            self._wake.clear()
            if self._urgent or (self._dirty and self.failures == 0):
                delay = 0 if self._urgent else self.write_delay
            if self._stopping:
                return
            await self._pause(max(delay, self.server_wait()))
            while not self._stopping and self.server_wait() > 0:  # woken early: the server's wait stands
                self._wake.clear()
                await self._pause(self.server_wait())
            if self._wake.is_set() and not self._urgent and self.write_delay:
                # a write: give the person a moment to finish (a report and its photos) before sending
                await asyncio.sleep(self.write_delay)
