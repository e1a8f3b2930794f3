"""Sync while the app is open, as the screens see it: the device core's `SyncLoop`, plus what a
screen needs to draw — is a round under way, how far has it got, and is the round someone asked for
("sync now") still to come.

One per device (the session owns it), however many pages show that device: in a browser two tabs
share one device and must not run two loops. Screens `listen` and redraw when told.

The loop does the deciding: it syncs on start, on `resume()` (the app is back in the foreground), on
its timer, shortly after every local write (it subscribes to the device itself), and at once on
`sync_now()`, even during a backoff.

Live updates: beside the loop, a watcher waits on the server's changes feed (`Device.changes_waiting`,
a long-poll of LIVE_WAIT_S) and starts a round as soon as something this phone may see has changed.
No busy polling: an idle phone makes one request per LIVE_WAIT_S; when the server cannot be reached
the watcher backs off (up to LIVE_RETRY_MAX_S) and the periodic loop carries on alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from mobile.core import people
from mobile.core.device import Device
from mobile.core.sync_loop import SyncLoop
from mobile.core.views import SyncProgress

log = logging.getLogger(__name__)

#: seconds between rounds while the app is open and nothing else asks for one
SYNC_EVERY_S = 120.0
#: one long-poll waits this long on the server (its maximum, 25 s)
LIVE_WAIT_S = 25
#: after a failed long-poll, wait this long (doubling, up to LIVE_RETRY_MAX_S) before the next
LIVE_RETRY_S = 5.0
LIVE_RETRY_MAX_S = 300.0
#: at most one round started by the watcher per this many seconds (a page that cannot be pulled
#: must not turn the watcher into a loop)
LIVE_MIN_GAP_S = 3.0


class BackgroundSync:
    def __init__(
        self,
        device: Device,
        *,
        interval: float = SYNC_EVERY_S,
        write_delay: float = 2.0,
        base_backoff: float = 5.0,
        live: bool = True,
        live_wait: int = LIVE_WAIT_S,
    ) -> None:
        self.device = device
        self.live = live
        self.live_wait = live_wait
        self.live_requests = 0  # long-polls made (docs/performance.md counts them)
        self._live_task: asyncio.Task[None] | None = None
        self._people_task: asyncio.Task[None] | None = None
        self.loop = SyncLoop(
            device,
            interval=interval,
            write_delay=write_delay,
            base_backoff=base_backoff,
            on_progress=self._progressed,
            on_busy=self._busy,
        )
        self.progress: SyncProgress | None = None
        self._started = 0  # rounds begun
        self._asked_for = 0  # the round a "sync now" waits for (0: none)
        self._listeners: list[Callable[[], None]] = []

    # --- what the screens read ---------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """A round is under way."""
        return self.loop.busy

    @property
    def showing_round(self) -> bool:
        """Show "syncing…": a round is under way, or one was asked for and has not ended yet."""
        return self.loop.busy or self._asked_for > 0

    def listen(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` when a round begins, progresses or ends. Returns an unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # --- control -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start syncing (at once, then as the loop decides). Needs a running event loop; does nothing
        for a phone that is not enrolled or a loop already running."""
        if self.device.enrolled and not self.loop.running:
            self.loop.start()
        if self.live and self.loop.running and (self._live_task is None or self._live_task.done()):
            self._live_task = asyncio.get_running_loop().create_task(self._watch())

    def sync_now(self) -> None:
        """The person asked: a round now (after the one under way, if any)."""
        self._asked_for = self._started + 1
        if self.loop.running:
            self.loop.kick()
        else:
            self.start()
            if not self.loop.running:  # not enrolled: nothing will come
                self._asked_for = 0
        self._tell()

    def resume(self) -> None:
        """The app is in the foreground again."""
        if self.loop.running:
            self.loop.resume()
        else:
            self.start()

    async def stop(self) -> None:
        for task in (self._live_task, self._people_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._live_task = self._people_task = None
        await self.loop.stop()
        self._asked_for = 0
        self.progress = None
        self._tell()

    # --- live updates ------------------------------------------------------------------------------

    async def _watch(self) -> None:
        """Wait on the changes feed; when something changed, start a round and wait for it to end."""
        failures = 0
        loop = asyncio.get_running_loop()
        last_kick = -LIVE_MIN_GAP_S
        while self.loop.running:
            if self.loop.busy:
                await asyncio.sleep(0.5)
                continue
            before = self.loop.rounds
            try:
                self.live_requests += 1
                waiting = await self.device.changes_waiting(self.live_wait)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # offline or refused: the periodic loop goes on meanwhile
                failures += 1
                log.info("live updates paused: %s", exc)
                await asyncio.sleep(min(LIVE_RETRY_S * 2 ** (failures - 1), LIVE_RETRY_MAX_S))
                continue
            failures = 0
            if not waiting or not self.loop.running:
                continue
            if self.loop.busy or self.loop.rounds != before:
                # A round ran meanwhile (this phone's own push wakes the wait too): it pulled what
                # there was; the next wait, from the new cursor, answers at once if more came.
                continue
            await asyncio.sleep(max(0.0, last_kick + LIVE_MIN_GAP_S - loop.time()))
            last_kick = loop.time()
            rounds = self.loop.rounds
            self.loop.kick()
            while self.loop.running and self.loop.rounds == rounds:
                await asyncio.sleep(0.2)

    # --- what the loop tells -----------------------------------------------------------------------

    def _busy(self, busy: bool) -> None:
        if busy:
            self._started += 1
            self.progress = None
        else:
            if self._asked_for and self._started >= self._asked_for:
                self._asked_for = 0
            self._people_if_stale()
        self._tell()

    def _people_if_stale(self) -> None:
        """After a good round, fetch who is who when never fetched or older than REFRESH_EVERY_S."""
        last = self.device.last_sync()
        fetched = self.device.people_fetched_at()
        if last is None or not (last.reached_server and last.ok):
            return
        if fetched is not None and self.device.clock() - fetched < people.REFRESH_EVERY_S:
            return
        if self._people_task is not None and not self._people_task.done():
            return
        with contextlib.suppress(RuntimeError):  # no running loop: next time
            self._people_task = asyncio.get_running_loop().create_task(self._fetch_people())

    async def _fetch_people(self) -> None:
        try:
            await self.device.refresh_people()
        except Exception as exc:  # offline or refused: the ids show until the next good round
            log.info("who is who not fetched: %s", exc)
            return
        self._tell()

    def _progressed(self, progress: SyncProgress) -> None:
        self.progress = progress
        self._tell()

    def _tell(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:  # a screen's trouble is not a failed sync round: never let it reach the loop
                log.exception("a sync listener failed")
