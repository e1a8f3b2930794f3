"""The sync screen: what waits to go up, how the last round went, and a round on demand.

Rounds are run by the session's `BackgroundSync` (the device core's sync loop); this state only asks
for one and reads how it goes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mobile.app.i18n import Translator
from mobile.core.views import SyncProgress, SyncReport
from shared.errors import CATALOGUE

if TYPE_CHECKING:
    from mobile.app.state.background import BackgroundSync
    from mobile.core.device import Device
    from mobile.core.unsent import UnsentWork


class SyncState:
    def __init__(
        self,
        device: Device,
        tr: Translator,
        *,
        clock: Callable[[], float] = time.time,
        background: BackgroundSync | None = None,
    ) -> None:
        self.device = device
        self.tr = tr
        self.clock = clock
        self.background = background
        self.exported: Path | None = None

    @property
    def running(self) -> bool:
        """A round is under way or was asked for: show progress, do not offer another."""
        return self.background is not None and self.background.showing_round

    @property
    def progress(self) -> SyncProgress | None:
        return None if self.background is None else self.background.progress

    def sync_now(self) -> None:
        if self.background is not None:
            self.background.sync_now()

    def pending_lines(self) -> list[str]:
        """What waits to go up, as the person made it (a report with a photo: 1 report, 1 photo)."""
        work = self.device.unsent_work()
        if work.empty:
            return [self.tr.t("sync.nothing_pending")]
        lines = [
            ("sync.pending_reports", work.reports),
            ("sync.pending_actions", work.actions),
            ("sync.pending_photos", work.photos),
        ]
        return [self.tr.t(key, count=n) for key, n in lines if n]

    def pending_total(self) -> int:
        work = self.device.unsent_work()
        return work.reports + work.actions + work.photos

    def last(self) -> SyncReport | None:
        return self.device.last_sync()

    def last_success_text(self) -> str:
        """When the last round that reached the server and went well ended, however many rounds
        failed since."""
        good = self.device.last_good_sync()
        if good is None:
            return self.tr.t("sync.never")
        return self.tr.t("sync.last_ok", when=self.tr.ago(good.finished_at or good.started_at, self.clock()))

    def last_round_text(self) -> str:
        """When the last round ended, to the second (so a person sees that "sync now" did run)."""
        last = self.last()
        if last is None:
            return self.tr.t("sync.never")
        return self.tr.t("sync.last_round", time=self.tr.time_of_day(last.finished_at or last.started_at))

    def result_text(self, report: SyncReport | None = None) -> str:
        """The round's result in words people understand (no codes unless nothing better exists)."""
        report = report if report is not None else self.last()
        if report is None:
            return self.tr.t("sync.never")
        if not report.reached_server:
            return self.tr.t("sync.result_offline")
        if not report.ok and report.problems:
            first = report.problems[0]
            if first.code in CATALOGUE:
                message = self.tr.error(first.code)
            else:
                message = first.message_zh if self.tr.zh else first.message
            return self.tr.t("sync.result_error", message=message)
        text = self.tr.t("sync.result_ok", sent=report.ops_sent, received=report.cases_received)
        if report.rejected:
            text += " " + self.tr.t("sync.rejected", count=report.rejected)
        return text

    def progress_text(self) -> str:
        p = self.progress
        if p is None:
            return self.tr.t("sync.running")
        if p.ops_total:
            return f"{self.tr.t('sync.running')} {self.tr.t('sync.progress', done=p.ops_done, total=p.ops_total)}"
        return self.tr.t("sync.running")

    def progress_fraction(self) -> float | None:
        p = self.progress
        if p is None:
            return None
        if p.bytes_total:
            return min(1.0, p.bytes_done / p.bytes_total)
        if p.ops_total:
            return min(1.0, p.ops_done / p.ops_total)
        return None

    def export(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        name = self.tr.local(self.clock()).strftime("gridsync-handover-%Y%m%d-%H%M%S")
        self.exported = self.device.export_handover(folder / name)
        return self.exported


def unsent_text(work: UnsentWork, tr: Translator) -> str:
    """ "1 report, 1 photo" / "1 条上报、1 张照片": what waits, as a person made it ("" for nothing)."""
    parts = [
        tr.t(key, count=n)
        for key, n in (
            ("pending.reports", work.reports),
            ("pending.actions", work.actions),
            ("pending.photos", work.photos),
        )
        if n
    ]
    return tr.t("pending.and").join(parts)
