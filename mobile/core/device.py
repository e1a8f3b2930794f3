"""The phone, headless: the one object the Flet app, the field simulator and the tests drive.

`Device` ties the local store, the user's actions, and sync together. Every write is one local
transaction and works offline; `sync()` talks to the server and never raises for network trouble.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from mobile.core import (
    casebook,
    handover,
    live,
    outbox,
    overview,
    people,
    photo_records,
    photo_transfer,
    segments,
    unsent,
)
from mobile.core.casework import Casework
from mobile.core.enrollment_flow import enroll_device
from mobile.core.identity import DeviceKeys, Identity
from mobile.core.location import Fix
from mobile.core.photos import PhotoStore
from mobile.core.secrets import FileSecretStore, SecretStore
from mobile.core.server_api import Connections, RetryGate, ServerApi
from mobile.core.store import Store, default_data_dir
from mobile.core.sync_client import SyncClient, SyncParts
from mobile.core.unsent import UnsentWork
from mobile.core.views import CaseView, PendingCounts, Problem, SyncProblem, SyncProgress, SyncReport
from mobile.core.worker_thread import finish_in_thread
from shared.catalogue import Category, Department, GridCell
from shared.errors import GridsyncError
from shared.geo import GridIndex, grid_of
from shared.model import Case, Role
from shared.ops import MAX_PUBLIC_TEXT, validate_text
from shared.rules import RuleContext, is_overdue
from shared.workflow import allowed_actions
from shared.worktime import WorkCalendar


def system_clock() -> int:
    return int(time.time())


class Device:
    def __init__(
        self,
        store: Store,
        secrets: SecretStore,
        clock: Callable[[], int],
        transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        self.store = store
        self.secrets = secrets
        self.clock = clock
        #: one HTTP client kept across rounds (connections reused); closed on sign-out and close
        self.connections = Connections(transport)
        self.photo_store = PhotoStore(store.folder / "photos")
        self._listeners: list[Callable[[], None]] = []
        self._sync_lock: asyncio.Lock | None = None
        self._sync_lock_loop: asyncio.AbstractEventLoop | None = None
        #: a failed connection is retried this many times within a round, backing off from retry_delay
        self.network_retries = 2
        self.retry_delay = 0.5
        #: when the server said to come back (`Retry-After`); outlives the round that was told it
        self.retry_gate = RetryGate()
        self._load()

    @classmethod
    def open(
        cls,
        data_dir: Path | None = None,
        secrets: SecretStore | None = None,
        *,
        clock: Callable[[], int] = system_clock,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> Device:
        """Open (creating or migrating) the phone's store in `data_dir`, or in Flet's app data folder
        (`FLET_APP_STORAGE_DATA`) when none is given. Without a SecretStore the keys go to a private
        folder beside the database."""
        folder = default_data_dir(data_dir)
        store = Store(folder, clock())
        return cls(
            store, secrets if secrets is not None else FileSecretStore(folder / "secrets"), clock, transport
        )

    def _load(self) -> None:
        self._identity = self.store.identity()
        self._keys = DeviceKeys.load(self.secrets) if self._identity else None
        self._categories = {c.code: c for c in self.store.categories()}
        self._grids = self.store.grids()
        self._index = GridIndex(self._grids)
        self._calendar = self.store.calendar()
        self._casework = (
            Casework(self.store, self._identity, self.photo_store, self._context, self.clock, self._written)
            if self._identity
            else None
        )

    @property
    def transport(self) -> httpx.AsyncBaseTransport | None:
        """The httpx transport (None: real HTTP). Setting it closes the current client; the next
        request makes one over the new transport."""
        return self.connections.transport

    @transport.setter
    def transport(self, transport: httpx.AsyncBaseTransport | None) -> None:
        self.connections.close()
        self.connections.transport = transport

    # --- who ----------------------------------------------------------------------------------------

    @property
    def enrolled(self) -> bool:
        return self._identity is not None and self._keys is not None

    @property
    def identity(self) -> Identity | None:
        return self._identity

    async def enroll(
        self, server_url: str, code: str, fingerprint: str | None = None, device_name: str = "phone"
    ) -> Identity:
        if self._identity is not None:
            raise GridsyncError("request.forbidden", "this phone is already enrolled; sign out first")
        api = ServerApi(server_url, clock=self.clock, transport=self.transport)
        try:
            await enroll_device(api, self.store, self.secrets, code, fingerprint, device_name, self.clock())
        finally:
            await api.aclose()
        self._load()
        assert self._identity is not None
        return self._identity

    def sign_out(self, *, force: bool = False) -> None:
        """Forget this worker on this phone: the store, the photos and the keys. Refused while work
        has not reached the server, unless `force`."""
        if not force and not self.pending().empty:
            raise GridsyncError("request.forbidden", "changes or photos have not reached the server yet")
        self.connections.close()
        self.store.wipe()
        shutil.rmtree(self.photo_store.root, ignore_errors=True)
        DeviceKeys.forget(self.secrets)
        self._load()

    def close(self) -> None:
        self.connections.close()
        self.store.close()

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` after every local write (the sync loop uses this). Returns an unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _written(self) -> None:
        for listener in list(self._listeners):
            listener()

    # --- the catalogue ------------------------------------------------------------------------------

    def categories(self) -> list[Category]:
        return list(self._categories.values())

    def recent_categories(self, n: int = 5) -> list[Category]:
        return [self._categories[c] for c in self.store.recent_category_codes(n) if c in self._categories]

    def departments(self) -> list[Department]:
        return self.store.departments()

    def grids(self) -> list[GridCell]:
        return list(self._grids)

    def locate(self, lat: float, lon: float) -> GridCell | None:
        return self._index.locate(lat, lon)

    def calendar(self) -> WorkCalendar | None:
        return self._calendar

    def server_now(self, phone_now: int | None = None) -> int:
        """A reading of this phone's clock (`phone_now`, or read now) on the server's clock: plus the
        offset the server taught the phone at sync (`clock_offset`). Judging by it, a phone whose clock
        is years off still shows a fresh case as fresh."""
        now = self.clock() if phone_now is None else phone_now
        return now + int(self.store.state("clock_offset") or 0)

    def _context(self) -> RuleContext:
        def locate(lat: float, lon: float) -> str | None:
            return grid_of(self._index, lat, lon)

        return RuleContext(self.server_now(), self._categories, self._calendar, locate)

    # --- actions (each one local transaction) --------------------------------------------------------

    def _work(self) -> Casework:
        if self._casework is None:
            raise GridsyncError("device.unknown", "enroll this phone first")
        return self._casework

    def report(
        self,
        *,
        category: str,
        location: Fix,
        description: str = "",
        address: str = "",
        photos: Sequence[tuple[bytes, str]] = (),
        on_spot: bool = False,
    ) -> str:
        return self._work().report(
            category=category,
            location=location,
            description=description,
            address=address,
            photos=photos,
            on_spot=on_spot,
        )

    def add_note(self, case_id: str, text: str) -> None:
        self._work().add_note(case_id, text)

    def add_photo(self, case_id: str, image: bytes, stage: str) -> None:
        self._work().add_photo(case_id, image, stage)

    def transition(
        self,
        case_id: str,
        action: str,
        *,
        reason: str = "",
        department: str | None = None,
        handler: str | None = None,
        hours: float | None = None,
    ) -> None:
        payload: dict[str, Any] = {"reason": reason}
        if department is not None:
            payload["department"] = department
        if handler is not None:
            payload["handler"] = handler
        if hours is not None:
            payload["hours"] = hours
        self._work().transition(case_id, action, payload)

    def resolve_conflict(self, case_id: str, conflict_id: str, choice: str) -> None:
        self._work().resolve_conflict(case_id, conflict_id, choice)

    async def set_public_text(self, case_id: str, text: str) -> dict[str, Any]:
        """A supervisor's public text for a case: what the city's Open311 feed publishes as its
        description from now on (`PUT /v1/cases/{case_id}/public-text`, signed). Online only: it is
        sent now, never queued; the server's answer `{"case_id", "case_no", "text", "edited_at"}`.
        Refused before anything is sent: `device.unknown` (not enrolled), `case.not_allowed` (not a
        supervisor or admin), `request.malformed` (not 1 to `MAX_PUBLIC_TEXT` characters of text:
        the ops' text rules). The server's refusals come as GridsyncError (`case.unknown` for a case
        she may not see); no connection is `NetworkError` and nothing changed anywhere."""
        if self._identity is None:
            raise GridsyncError("device.unknown", "this phone is not enrolled")
        if not self._identity.is_supervisor:
            raise GridsyncError("case.not_allowed", "only a supervisor edits a case's public text")
        try:
            validate_text(text, "text", MAX_PUBLIC_TEXT, required=True)
        except GridsyncError as refused:
            raise GridsyncError("request.malformed", refused.detail) from None
        api = await self._api()
        return await api.set_public_text(case_id, text.strip())

    def edit(self, case_id: str, **fields: Any) -> None:
        self._work().edit(case_id, fields)

    def link_duplicate(self, case_id: str, duplicate_of: str, reason: str = "") -> None:
        self._work().link_duplicate(case_id, duplicate_of, reason)

    # --- reading ----------------------------------------------------------------------------------

    def _views(self, cases: list[Case]) -> list[CaseView]:
        now, calendar = self.server_now(), self._calendar  # overdue as the server judges it
        unsettled = outbox.cases_with_unsettled(self.store)
        troubled = outbox.cases_with_problems(self.store)
        views = []
        for case in cases:
            problems = []
            if case.case_id in troubled:
                for record in outbox.problems_of(self.store, case.case_id):
                    out = record.outcome or {}
                    if record.state == "rejected":
                        problems.append(
                            Problem.rejected(
                                record.op.op_id, record.op.kind, out.get("code"), out.get("detail", "")
                            )
                        )
                    else:
                        problems.append(
                            Problem.lost_conflict(record.op.op_id, record.op.kind, out.get("detail", ""))
                        )
            for conflict in case.open_conflicts():
                problems.append(
                    Problem.open_conflict(conflict.conflict_id, conflict.field, conflict.proposed_by)
                )
            views.append(CaseView(case, case.case_id in unsettled, problems, is_overdue(case, now, calendar)))
        return views

    def cases(self, *, mine: bool = False, status: str | None = None, text: str = "") -> list[CaseView]:
        me = self._identity.worker_id if (mine and self._identity) else None
        return self._views(casebook.local_cases(self.store, worker_id=me, status=status, text=text))

    def case(self, case_id: str) -> CaseView | None:
        found = casebook.local_cases(self.store, case_ids=[case_id])
        return self._views(found)[0] if found else None

    def allowed_actions(self, case_id: str) -> list[str]:
        view = self.case(case_id)
        if view is None or self._identity is None:
            return []
        case = view.case
        return allowed_actions(
            case.status, Role(self._identity.role), case.on_spot, case.extension_hours is not None
        )

    def approval_queue(self) -> list[CaseView]:
        if self._identity is None or not self._identity.is_supervisor:
            return []
        return [v for v in self.cases() if overview.waits_for_supervisor(v.case)]

    def dashboard(self, now: int | None = None) -> dict[str, Any]:
        """`now`: a reading of this phone's clock (default: read it now). Overdue is judged at that
        moment on the server's clock (`server_now`) and the city's working calendar."""
        return overview.dashboard(casebook.local_cases(self.store), self.server_now(now), self._calendar)

    def photo_bytes(self, sha256: str, *, thumb: bool = False) -> bytes | None:
        """The decrypted JPEG if this phone holds it (taken here or downloaded), else None; use
        `fetch_photo` to download one."""
        return photo_transfer.read_photo(self.store, self.photo_store, sha256, thumb=thumb)

    async def fetch_photo(self, sha256: str, *, thumb: bool = False) -> bytes | None:
        """`photo_bytes`, downloading the photo first when needed. None when not (yet) available."""
        found = self.photo_bytes(sha256, thumb=thumb)
        if found is not None or not self.enrolled:
            return found
        api = await self._api()
        try:
            await photo_transfer.download(api, self.store, self.photo_store, sha256)
        except Exception:  # offline or refused: the screen shows a placeholder
            return None
        return self.photo_bytes(sha256, thumb=thumb)

    def pending(self) -> PendingCounts:
        counts = outbox.counts(self.store)
        photos, photo_bytes = photo_records.pending_upload(self.store)
        unsent, unsent_bytes = segments.unsent_bytes(self.store)
        row = self.store.one("SELECT COALESCE(SUM(LENGTH(op)), 0) FROM outbox WHERE state = 'pending'")
        loose = int(row[0]) if row else 0
        ops = counts.get("pending", 0) + counts.get("sealed", 0)
        return PendingCounts(ops, photos, unsent_bytes + loose + photo_bytes, unsent)

    def last_sync(self) -> SyncReport | None:
        found = self.store.last_sync()
        return None if found is None else SyncReport.from_dict(found)

    def last_good_sync(self) -> SyncReport | None:
        """The last round that reached the server and finished without a problem."""
        found = self.store.last_good_sync()
        return None if found is None else SyncReport.from_dict(found)

    async def changes_waiting(self, wait_s: int = live.WAIT_S) -> bool:
        """Wait up to `wait_s` seconds on the server for a change this phone may see (a long-poll).
        True when there is one to pull (run a sync round); False when the wait ended with none.
        Raises NetworkError / GridsyncError like a round would."""
        if self._identity is None:
            return False
        api = await self._api()
        return await live.changes_waiting(api, self.store, wait_s)

    async def refresh_people(self) -> int:
        """Fetch who is who from the server (names by worker id); returns how many."""
        if self._identity is None:
            return 0
        api = await self._api()
        return await people.refresh(api, self.store, self.clock())

    def people_names(self) -> dict[str, str]:
        """Names by worker id, this phone's own person included (empty until fetched)."""
        found = people.names(self.store)
        if self._identity is not None:
            found[self._identity.worker_id] = self._identity.name
        return found

    def people_fetched_at(self) -> int | None:
        return people.fetched_at(self.store)

    def unsent_work(self) -> UnsentWork:
        """What waits to go up, as a person counts it: reports, actions, photos."""
        return unsent.unsent_work(self.store)

    # --- sync -----------------------------------------------------------------------------------------

    async def _api(self) -> ServerApi:
        """A signed API over the device's long-lived client (`connections`)."""
        assert self._identity is not None and self._keys is not None
        return ServerApi(
            self._identity.server_url,
            clock=self.clock,
            transport=self.transport,
            device_id=self._identity.device_id,
            signing_key=self._keys.signing,
            clock_offset=int(self.store.state("clock_offset") or 0),
            retries=self.network_retries,
            retry_delay=self.retry_delay,
            gate=self.retry_gate,
            client=await self.connections.client(),
        )

    async def sync(self, progress: Callable[[SyncProgress], None] | None = None) -> SyncReport:
        """One full round. Never raises for network or server trouble: read the report."""
        loop = asyncio.get_running_loop()
        if self._sync_lock is None or self._sync_lock_loop is not loop:
            # one round at a time; a lock belongs to one event loop (tests and tools run several)
            self._sync_lock, self._sync_lock_loop = asyncio.Lock(), loop
        async with self._sync_lock:
            return await self._sync(progress)

    async def _sync(self, progress: Callable[[SyncProgress], None] | None) -> SyncReport:
        server_keys = self.store.server_keys()
        if not self.enrolled or self._identity is None or self._keys is None or server_keys is None:
            report = SyncReport(started_at=self.clock(), finished_at=self.clock(), ok=False)
            report.problems.append(
                SyncProblem("enroll", "device.unknown", "This phone is not enrolled.", "此设备未注册。")
            )
            return report
        api = await self._api()
        parts = SyncParts(
            self.store,
            self._identity,
            self._keys,
            server_keys,
            api,
            self.photo_store,
            self._context,
            self.clock,
        )
        report = await SyncClient(parts, progress).run()
        await finish_in_thread(self._after_round, report, api.clock_offset)
        return report

    def _after_round(self, report: SyncReport, clock_offset: int) -> None:
        if clock_offset != int(self.store.state("clock_offset") or 0):
            with self.store.transaction() as conn:
                self.store.set_state(conn, "clock_offset", clock_offset)
        self.store.log_sync(report.started_at, report.finished_at, report.ok, report.to_dict())
        self.store.checkpoint()  # the round's writes into the database, the log truncated

    def export_handover(self, path: Path) -> Path:
        """Seal what is pending and write every unsettled segment and unsent photo into one file."""
        server_keys = self.store.server_keys()
        if self._identity is None or self._keys is None or server_keys is None:
            raise GridsyncError("device.unknown", "enroll this phone first")
        segments.seal_pending(
            self.store,
            device_id=self._identity.device_id,
            device_key=self._keys.signing,
            server_public_raw=server_keys.encryption,
            clock=self.clock,
        )
        blobs = [s.blob for s in segments.not_settled(self.store)]
        photos = [
            (r.sha256, (self.photo_store.root / r.blob_path).read_bytes())
            for r in photo_records.to_upload(self.store)
            if r.blob_path
        ]
        return handover.write(Path(path), blobs, photos)
