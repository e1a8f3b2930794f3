"""Sync while the app is open, as the screens see it: the device core's `SyncLoop`, plus what a
screen needs to draw — is a round under way, how far has it got, and is the round someone asked for
("sync now") still to come.

One per device (the session owns it), however many pages show that device: in a browser two tabs
share one device and must not run two loops. Screens `listen` and redraw when told.

The loop does the deciding: it syncs on start, on `resume()` (the app is back in the foreground), on
its timer, shortly after every local write (it subscribes to the device itself), and at once on
`sync_now()`, even during a backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from mobile.core.device import Device
from mobile.core.sync_loop import SyncLoop
from mobile.core.views import SyncProgress

log = logging.getLogger(__name__)

#: seconds between rounds while the app is open and nothing else asks for one
SYNC_EVERY_S = 120.0


class BackgroundSync:
    def __init__(
        self,
        device: Device,
        *,
        interval: float = SYNC_EVERY_S,
        write_delay: float = 2.0,
        base_backoff: float = 5.0,
    ) -> None:
        self.device = device
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
        await self.loop.stop()
        self._asked_for = 0
        self.progress = None
        self._tell()

    # --- what the loop tells -----------------------------------------------------------------------

    def _busy(self, busy: bool) -> None:
        if busy:
            self._started += 1
            self.progress = None
        elif self._asked_for and self._started >= self._asked_for:
            self._asked_for = 0
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
