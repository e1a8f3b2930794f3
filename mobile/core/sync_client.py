"""One sync round: seal, upload photos, push segments, pull changes, rebase, fetch a few photos.

The round never raises for trouble with the network or the server: every failure becomes a
`SyncProblem` in the report, in words a person understands and with its code. Every step commits as
it goes (a segment's receipt, a page of changes with its cursor), so a round cut anywhere — network,
cancellation, a killed app — resumes where it stopped and never applies anything twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mobile.core import casebook, incarnation, outbox, photo_records, photo_transfer, segments
from mobile.core.changes_page import ChangesPage, read_page
from mobile.core.errors import NetworkError
from mobile.core.identity import DeviceKeys, Identity, ServerKeys
from mobile.core.photos import PhotoStore
from mobile.core.server_api import ServerApi
from mobile.core.store import Store
from mobile.core.views import SyncProblem, SyncProgress, SyncReport
from mobile.core.worker_thread import finish_in_thread
from shared import crypto
from shared.envelope import open_box
from shared.errors import CATALOGUE, GridsyncError
from shared.model import Actor
from shared.rules import RuleContext

PAGE = 1000  # the server's largest page: fewer round trips on a catch-up
AHEAD = 1  # pages fetched and waiting to be written, besides the one in hand and the one being written
MAX_BOX_PLAIN = 128 * 1024 * 1024
PREFETCH_PHOTOS = 8
MAX_FORKS_PER_ROUND = 3

Progress = Callable[[SyncProgress], None]
_Page = ChangesPage[casebook.ServerCopy]


def problem(step: str, error: Exception) -> SyncProblem:
    if isinstance(error, GridsyncError):
        spec = CATALOGUE[error.code]
        return SyncProblem(step, error.code, spec.en, spec.zh, error.detail)
    if isinstance(error, NetworkError):
        return SyncProblem(
            step, "network.unreachable", error.message("en"), error.message("zh"), error.detail
        )
    return SyncProblem(
        step,
        "device.internal",
        "Something went wrong on this phone; it will try again.",
        "手机上出现错误，稍后会重试。",
        f"{type(error).__name__}: {error}",
    )


@dataclass
class SyncParts:
    """Everything a round needs, handed over by the Device."""

    store: Store
    identity: Identity
    keys: DeviceKeys
    server_keys: ServerKeys
    api: ServerApi
    photo_store: PhotoStore
    context: Callable[[], RuleContext]
    clock: Callable[[], int]


class SyncClient:
    def __init__(self, parts: SyncParts, progress: Progress | None = None) -> None:
        self.p = parts
        self.progress = progress or (lambda _: None)
        self.report = SyncReport(started_at=parts.clock())
        self._bytes_done = 0
        self._bytes_total = 0
        self._ops_done = 0
        self._ops_total = 0
        self._forks = 0  # segments re-sealed after `segment.fork` this round
        self._resend = False  # the server lacks segments it had: send them again this round

    def _tell(self, phase: str, message: str = "") -> None:
        self.progress(
            SyncProgress(phase, self._ops_done, self._ops_total, self._bytes_done, self._bytes_total, message)
        )

    def _add_bytes(self, n: int) -> None:
        self._bytes_done += n
        self._tell("photos")

    async def run(self) -> SyncReport:
        report = self.report
        try:
            self._tell("sealing")
            report.segments_sealed = await finish_in_thread(self._seal)
            unsent = segments.unsent(self.p.store, now=self.p.clock())
            uploads = photo_records.to_upload(self.p.store)
            self._ops_total = sum(s.op_count for s in unsent)
            self._bytes_total = sum(len(s.blob) for s in unsent) + sum(r.size - r.uploaded for r in uploads)
            await self._upload_photos(uploads)
            await self._push(unsent)
            await self._pull()
            if self._resend:  # restored server: resend in order what it lacks, then pull their results
                self._resend = False
                await self._upload_photos(photo_records.to_upload(self.p.store))
                await self._push(segments.unsent(self.p.store))
                await self._pull()
            segments.prune(self.p.store, self.p.clock())
            await self._prefetch()
        except NetworkError as error:
            report.problems.append(problem("network", error))
        except GridsyncError as error:
            report.problems.append(problem("server", error))
        except Exception as error:  # a bug must not kill the app's sync loop; it is reported instead
            report.problems.append(problem("device", error))
        report.ok = not report.problems
        counts = outbox.counts(self.p.store)
        report.pending_ops = counts.get("pending", 0) + counts.get("sealed", 0)
        report.pending_photos = photo_records.pending_upload(self.p.store)[0]
        report.finished_at = self.p.clock()
        self._tell("done", report.summary())
        return report

    # --- photos -----------------------------------------------------------------------------------

    async def _upload_photos(self, uploads: list[photo_records.PhotoRecord]) -> None:
        for record in uploads:
            self._tell("photos")
            try:
                sent = await photo_transfer.upload(
                    self.p.api, self.p.store, self.p.photo_store, record, self._add_bytes
                )
            except GridsyncError as error:  # this photo only; the others and the text go on
                self.report.problems.append(problem("photos", error))
                continue
            self.report.reached_server = True
            self.report.bytes_uploaded += sent
            self.report.photos_uploaded += 1

    async def _prefetch(self) -> None:
        for sha256 in photo_transfer.missing_photos(self.p.store, PREFETCH_PHOTOS):
            self._tell("downloading")
            try:
                if await photo_transfer.download(self.p.api, self.p.store, self.p.photo_store, sha256):
                    self.report.photos_downloaded += 1
            except GridsyncError:
                continue  # a photo that cannot be fetched now is fetched when it is looked at

    # --- segments ---------------------------------------------------------------------------------

    async def _push(self, unsent: list[segments.SegmentRecord]) -> None:
        ctx, actor = self.p.context(), self.p.identity.actor()
        for segment in unsent:
            self._tell("pushing")
            try:
                receipt = await self.p.api.push_segment(segment.blob)
            except GridsyncError as error:
                if error.code == "segment.fork" and await self._resume_after_fork(segment, error):
                    return
                # Refused: later segments would only wait behind the gap, so stop here.
                segments.record_error(self.p.store, segment.first_seq, error.code, self.p.clock())
                self.report.problems.append(problem("send", error))
                return
            self.report.reached_server = True
            learned = await finish_in_thread(self._write_receipt, segment, receipt, actor, ctx)
            for outcome in receipt.get("outcomes") or []:
                self._count(str(outcome.get("outcome")))
            self.report.segments_sent += 1
            self.report.ops_sent += segment.op_count
            self._ops_done += segment.op_count
            self._bytes_done += len(segment.blob)
            if learned.reopened:  # later segments would wait behind the gap: resend in order first
                self._resend = True
                return

    def _seal(self) -> int:
        return segments.seal_pending(
            self.p.store,
            device_id=self.p.identity.device_id,
            device_key=self.p.keys.signing,
            server_public_raw=self.p.server_keys.encryption,
            clock=self.p.clock,
        )

    def _reseal(self, first_seq: int, resume: dict[str, Any] | None) -> int:
        with self.p.store.transaction() as conn:
            return segments.reseal_after_fork(conn, first_seq, resume)

    def _write_receipt(
        self, segment: segments.SegmentRecord, receipt: dict[str, Any], actor: Actor, ctx: RuleContext
    ) -> incarnation.Learned:
        """A segment's receipt, its outcomes and the local views they change, in one transaction."""
        with self.p.store.transaction() as conn:
            settled = segments.record_receipt(conn, segment.first_seq, receipt, self.p.clock())
            learned = incarnation.learn(conn, receipt)
            casebook.rebase(conn, casebook.views_changed(conn, settled) | learned.touched, actor, ctx)
        return learned

    async def _resume_after_fork(self, segment: segments.SegmentRecord, error: GridsyncError) -> bool:
        """The server holds other content under this segment's numbers: re-seal its ops and the
        ones after it under the numbers the server gave, and push them in this round (at most a few
        times a round, so a server that keeps saying so cannot hold the round forever)."""
        if self._forks >= MAX_FORKS_PER_ROUND:
            return False
        if not await finish_in_thread(self._reseal, segment.first_seq, error.context):
            return False
        self._forks += 1
        await finish_in_thread(self._seal)
        await self._push(segments.unsent(self.p.store))
        return True

    def _learn_rotated_key(self, conn: Any, named: Any) -> None:
        """Seal to the server's new encryption key after a rotation. Trusted because the page that
        names it is signed by the signing key pinned at enrollment; a page naming another signing
        key is ignored (that key never changes without a new enrollment)."""
        if not isinstance(named, dict):
            return
        try:
            signing = crypto.b64d(str(named["signing_key"]))
            encryption = crypto.b64d(str(named["encryption_key"]))
        except (KeyError, GridsyncError):
            return
        if signing != self.p.server_keys.signing or len(encryption) != 32:
            return
        if encryption != self.p.server_keys.encryption:
            self.p.store.set_server_encryption_key(conn, encryption)

    def _count(self, outcome: str) -> None:
        self.report.outcomes[outcome] = self.report.outcomes.get(outcome, 0) + 1

    # --- changes ----------------------------------------------------------------------------------

    async def _pull(self) -> None:
        """Pull pages until the feed has no more. Fetching runs ahead of writing, in its own task
        (`_fetch_pages`): each page is asked for as soon as the one before it has arrived, at most
        `AHEAD` pages waiting to be written, so the server prepares the next page while the phone
        receives one and writes another. Each page is written in a worker thread, one transaction
        with its cursor, in order; nothing is written ahead of its cursor; pages fetched ahead that
        the round no longer needs are dropped, and an error fetching one ends the round only after
        every page fetched before it is written."""
        ctx, actor = self.p.context(), self.p.identity.actor()
        cursor = int(self.p.store.state("cursor") or 0)
        while True:  # once more from cursor 0 when the server's store turns out to be a new incarnation
            fetched: asyncio.Queue[tuple[int, _Page] | Exception] = asyncio.Queue(maxsize=AHEAD)
            fetcher = asyncio.ensure_future(self._fetch_pages(cursor, fetched))
            try:
                while True:
                    item = await fetched.get()
                    if isinstance(item, Exception):
                        raise item
                    asked_at, page = item
                    written = await finish_in_thread(self._write_page, page, asked_at, actor, ctx)
                    for change in written.settled:
                        self._count(change.outcome)
                    self.report.cases_received += len(page.cases)
                    if written.reset:
                        # A page of a new incarnation was counted from a cursor of the old one: its
                        # cases are true copies, but its cursor is not ours. Start again from zero.
                        cursor = 0
                        break
                    cursor = page.cursor
                    if not _follows(page, asked_at):
                        return
            finally:
                await _drop(fetcher)

    async def _fetch_pages(self, cursor: int, out: asyncio.Queue[tuple[int, _Page] | Exception]) -> None:
        """Fetch page after page from `cursor` into `out` (each with the cursor it was asked at),
        until one says there is no more; an error is put in `out` in the place of its page."""
        try:
            while True:
                page = await self._fetch_page(cursor)
                await out.put((cursor, page))
                if not _follows(page, cursor):
                    return
                cursor = page.cursor
        except Exception as exc:  # handed to the writer, which raises it in its turn
            await out.put(exc)

    async def _fetch_page(self, cursor: int) -> _Page:
        self._tell("pulling", f"cursor {cursor}")
        blob = await self.p.api.changes(cursor, PAGE)
        self.report.reached_server = True
        plain = open_box(
            blob,
            recipient_private=self.p.keys.encryption,
            signer_public_raw=self.p.server_keys.signing,
            context=b"changes",
            max_plain_bytes=MAX_BOX_PLAIN,
        )
        return read_page(plain, casebook.server_copy)

    def _write_page(self, page: _Page, cursor: int, actor: Actor, ctx: RuleContext) -> _Written:
        """One page and its cursor, in one transaction."""
        with self.p.store.transaction() as conn:
            learned = incarnation.learn(conn, page.server)
            self._resend = self._resend or learned.reopened
            fresh = casebook.put_server_cases(conn, page.cases)
            settled = outbox.record_outcomes(conn, page.outcomes)
            touched = set(fresh) | learned.touched | casebook.views_changed(conn, settled)
            self.p.store.set_state(conn, "cursor", 0 if learned.reset else max(cursor, page.cursor))
            self._learn_rotated_key(conn, page.server_keys)
            if not page.more and not learned.reset:
                touched |= incarnation.finish_resync(conn)
            casebook.rebase(conn, touched, actor, ctx, fresh)
        return _Written(settled, learned.reset)


@dataclass(frozen=True)
class _Written:
    settled: list[outbox.Settled]
    reset: bool


def _follows(page: _Page, asked_at: int) -> bool:
    """Whether a page fetched at `asked_at` has a next one: it says so, and its cursor moved on."""
    return page.more and page.cursor > asked_at


async def _drop(task: asyncio.Task[Any] | None) -> None:
    """Cancel a fetch the round no longer needs and wait for it to end, whatever it raised."""
    if task is None:
        return
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()  # retrieved: an error of a page not needed is not the round's
