"""The store's narrow interface: what the reconcile service and the API may ask of a database.

Two halves. `Store` answers reads outside any transaction and opens transactions. `Transaction` is
everything that changes state; one `with store.transaction() as tx:` block commits all of it or
nothing (an exception rolls it back). A whole segment is applied inside one such block, so a
PostgreSQL store only has to implement these two protocols; routes and reconcile code never change.

The behaviour both protocols promise is written in their docstrings, as guarantees every store
gives whatever the concurrency (threads of one process, several processes, several machines over
one database), with the database tool that gives it on each store; `tests/store/` pins each one on
every store (one suite, parametrised by store). Nothing may rely on SQLite's single writer or on a
lock of one process beyond what is written here.

Records are plain frozen values; cases travel as `shared.model.Case`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from shared.ledger import DevicePosition
from shared.model import Actor, Case, Role

# The largest integer every store can hold (SQLite INTEGER, PostgreSQL bigint): every integer a
# request or a spool file brings is checked against it before it reaches SQL.
MAX_SQL_INTEGER = 2**63 - 1
# Expired request nonces are purged at most this often per process (seconds of the request clock).
NONCE_PURGE_EVERY_S = 60


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    worker_id: str
    name: str
    role: str
    department: str | None = None
    grids: tuple[str, ...] = ()
    all_grids: bool = False

    def actor(self) -> Actor:
        """The worker as the rules know them: the server's record, never the device's claim."""
        return Actor(self.worker_id, Role(self.role), frozenset(self.grids), self.department, self.all_grids)

    def to_dict(self) -> dict[str, Any]:
        return {
            "worker_id": self.worker_id,
            "name": self.name,
            "role": self.role,
            "grids": list(self.grids),
            "department": self.department,
            "all_grids": self.all_grids,
        }


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    device_id: str
    worker_id: str
    signing_key: bytes  # raw Ed25519 public key
    encryption_key: bytes  # raw X25519 public key
    name: str
    enrolled_at: int
    revoked_at: int | None = None
    last_seq: int = 0
    last_hash: bytes = bytes(32)


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    """One op's outcome, as the device will read it back (receipt and changes feed)."""

    device_id: str
    seq: int
    op_id: str
    case_id: str
    outcome: str
    code: str | None
    version: int | None
    detail: str
    change_seq: int
    received_at: int
    applied_at: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "op_id": self.op_id,
            "seq": self.seq,
            "case_id": self.case_id,
            "outcome": self.outcome,
            "code": self.code,
            "version": self.version,
            "detail": self.detail,
        }


class OpLogRow(NamedTuple):
    """One applied (or refused) op as written: the device's outcome and the audit trail in one row.

    A tuple so a segment's hundred rows go to the database without a conversion each."""

    device_id: str
    seq: int  # the device's sequence number; 0 for a resolution made over HTTP or the admin CLI
    op_id: str
    actor: str
    case_id: str
    kind: str
    outcome: str
    code: str | None
    version: int | None
    detail: str
    change_seq: int  # the device sees the outcome in its changes feed after this counter
    received_at: int
    applied_at: int
    flags: str = ""  # "forced" (applied across a gap), "review" (HTTP/CLI resolution)


class Nearby(NamedTuple):
    """A stored case as the duplicate rule needs it (no JSON document parsed)."""

    point: int  # which of the asked points it is near
    case_id: str
    category: str
    status: str
    lat: float
    lon: float
    reported_at: int


@dataclass(frozen=True, slots=True)
class AuditRow:
    """The audit view of an op log row."""

    op_id: str
    actor: str
    device_id: str
    case_id: str
    kind: str
    outcome: str
    code: str | None
    received_at: int
    applied_at: int
    flags: str = ""  # e.g. "forced" for a segment applied across a gap


@dataclass(frozen=True, slots=True)
class HeldSegment:
    device_id: str
    first_seq: int
    last_seq: int
    segment_hash: bytes
    blob: bytes
    received_at: int


@dataclass(frozen=True, slots=True)
class QuarantineRecord:
    device_id: str
    first_seq: int
    last_seq: int
    segment_hash: bytes
    reason: str
    received_at: int
    blob: bytes = b""


@dataclass(frozen=True, slots=True)
class PhotoRecord:
    sha256: str
    size: int
    received: int
    complete: bool
    #: the device whose upload began the blob; None for a hand-over file's blob (stored by `ingest`)
    #: and for blobs stored before store migration 9. Saving never replaces a recorded uploader.
    uploader: str | None = None


@dataclass(frozen=True, slots=True)
class EnrollmentCode:
    code_hash: str
    worker_id: str
    expires_at: int
    used_at: int | None = None


@dataclass(frozen=True, slots=True)
class ChangeScope:
    """Which cases a person may see, as a store can filter them (the rules re-check each one)."""

    everything: bool = False
    grids: tuple[str, ...] = ()
    reporter: str | None = None
    department: str | None = None
    handler: str | None = None


@dataclass(frozen=True, slots=True)
class CaseChange:
    """A case for the changes feed: its stored document as JSON text, sent as it is (no parse and
    re-encode per case), and a `case` that holds only what visibility needs (`shared.rules.can_see`:
    grid, department, handler, reporter) — not the whole case."""

    change_seq: int
    case: Case
    doc: str


@dataclass(frozen=True, slots=True)
class OutcomeChange:
    change_seq: int
    outcome: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PublicCaseQuery:
    """Which cases a public feed (Open311) asks for, checked already: reported between `start` and
    `end` (epoch seconds, both inclusive), optionally only these categories, these stored statuses,
    a box (`min_lon, min_lat, max_lon, max_lat`, inclusive; a case without a location is never in
    a box). `offset` and `limit` cut the page out of the newest-first order."""

    start: int
    end: int
    categories: frozenset[str] | None = None
    statuses: frozenset[str] | None = None
    bbox: tuple[float, float, float, float] | None = None
    offset: int = 0
    limit: int = 100


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """An Open311 API key as stored: only the SHA-256 of the secret, never the secret itself."""

    key_id: str
    secret_hash: str
    name: str
    rate_per_minute: int
    issued_at: int
    issued_by: str  # the OS user who ran `admin api-key issue`
    revoked_at: int | None = None
    revoked_by: str | None = None


@dataclass(frozen=True, slots=True)
class PublicTextEdit:
    """One edit of a case's public text (append-only: the latest is the one published)."""

    case_id: str
    text: str
    before: str | None
    edited_by: str
    edited_at: int


@dataclass(frozen=True, slots=True)
class AdminAction:
    """One entry of the admin audit: what an operator did (`action`, e.g. "add-worker"), to what
    (`target`: a worker id, device id, catalogue name, file), the state before and after (JSON
    values; None where there was nothing), when (`at`, epoch seconds on the server's clock) and who
    (`os_user`, the operating-system account that ran the command). `seq` is given by the store."""

    action: str
    target: str
    before: Any
    after: Any
    at: int
    os_user: str
    seq: int = 0


class CatalogueReader(Protocol):
    """Where the city's catalogue is read from: a `Store`, or a `Transaction` while one is open."""

    def catalogue_version(self) -> int: ...
    def catalogue_doc(self, name: str) -> Any | None: ...


class Transaction(Protocol):
    """All writes, and the reads a write depends on. Commits or rolls back as a whole.

    Guarantees every store gives (pinned by the store contract suite, `tests/store/`):

    - **All or nothing.** Everything written through one transaction commits together when the
      `with store.transaction()` block ends, or nothing does (an exception rolls it back).
    - **Serialisable where it matters.** `lock_device` takes a lock on the device's position that is
      held until commit: two processes settling segments of the same device run one after the
      other, and the second sees what the first committed. Counters (`reserve_change_seqs`,
      `reserve_case_numbers`) never hand out a number twice.
    - **A transaction never reads through the store.** While a transaction is open, code reads
      through the transaction (its methods below: `worker`, `catalogue_version`, …), never through
      `Store`: with a connection pool, a `Store` read would take a second connection while this
      one is held, and threads holding one and waiting for another run the pool dry (deadlock).
    """

    # --- devices and their place in the sequence -----------------------------------------------
    def lock_device(self, device_id: str) -> DevicePosition:
        """The device's position (last applied sequence number and segment hash; zeros for a device
        never seen), read under a lock on it held until this transaction ends. Whatever is decided
        from it (apply, resent, held, fork) is written before any other transaction may read it:
        the same segment settled by two processes at once is applied once, and the other answers
        "resent". SQLite: the write lock every transaction takes (`BEGIN IMMEDIATE`) already is
        this lock; PostgreSQL: `SELECT … FOR UPDATE` of the device's row."""
        ...

    def set_device_position(self, device_id: str, last_seq: int, last_hash: bytes) -> None: ...
    def applied_segment(self, device_id: str, first_seq: int) -> tuple[bytes, dict[str, Any]] | None:
        """The applied segment's hash and its receipt (status "applied"), read back from its op log rows."""
        ...

    def record_applied_segment(
        self, device_id: str, first_seq: int, last_seq: int, segment_hash: bytes, changes: tuple[int, int]
    ) -> None:
        """`changes`: the first and last change number of the segment's op log rows (`record_ops`).
        The segment's first-seen records (`first_seen`) go: an applied segment answers as resent."""
        ...

    def applied_overlapping(self, device_id: str, first_seq: int, last_seq: int) -> bool:
        """Whether a segment the server applied for this device holds any of `first_seq..last_seq`
        (False: those numbers were skipped by a forced apply, and a late segment may fill them)."""
        ...

    def first_seen(self, device_id: str, first_seq: int, segment_hash: bytes, now: int) -> int:
        """When the server first saw this segment (these bytes, from this device): recorded as `now`
        the first time it is asked, on the server's clock, and the recorded time ever after. The
        backlog's wait is measured from it: never from a file's time or anything the phone says."""
        ...

    # --- cases ----------------------------------------------------------------------------------
    def load_cases(self, case_ids: Collection[str]) -> dict[str, Case]: ...
    def duplicate_candidates(
        self, points: Sequence[tuple[str, float, float]], radius_m: float, since: int
    ) -> list[Nearby]:
        """For each (category, lat, lon) point, the stored cases of that category reported at or
        after `since`, not rejected, voided or duplicate, that may lie within `radius_m` metres of
        it (`Nearby.point`: its index in `points`). A coarse filter that may return a few too many
        (the rule, `shared.rules.could_duplicate`, decides), never too few. All the points of a
        segment are asked at once: one query, not one per new case. How it is indexed is the
        store's own (SQLite: neighbourhood keys on `cases_near`, `store.cells`; PostgreSQL:
        `ST_DWithin` on a GiST index of a geography column)."""
        ...

    def reserve_change_seqs(self, count: int) -> int:
        """The first of `count` consecutive change numbers, never handed out before. They reach the
        changes feed only when this transaction commits, and only once every lower number has
        committed or been abandoned (`Store.change_seq`, the horizon)."""
        ...

    def reserve_case_numbers(self, year: int, count: int) -> int:
        """The first of `count` consecutive case number counters for the year."""
        ...

    def save_cases(self, cases: Sequence[tuple[Case, int]]) -> None: ...
    def record_ops(self, rows: Sequence[OpLogRow]) -> None: ...

    # --- backlog and quarantine ----------------------------------------------------------------
    def hold_segment(self, held: HeldSegment) -> bool: ...
    def held_segments(self, device_id: str) -> list[HeldSegment]: ...
    def release_held(self, device_id: str, first_seq: int) -> None: ...
    def quarantine_segment(self, record: QuarantineRecord) -> None: ...

    # --- people and devices --------------------------------------------------------------------
    def worker(self, worker_id: str) -> WorkerRecord | None:
        """The worker as this transaction sees it (`Store.worker` must not be asked meanwhile)."""
        ...

    def save_worker(self, worker: WorkerRecord) -> None: ...
    def add_enrollment_code(self, code: EnrollmentCode) -> None: ...
    def use_enrollment_code(self, code_hash: str, now: int) -> str | None: ...
    def add_device(self, device: DeviceRecord) -> None: ...
    def revoke_device(self, device_id: str, now: int) -> bool: ...
    # --- the city's catalogue and photos -------------------------------------------------------
    def catalogue_version(self) -> int:
        """As `Store.catalogue_version`, read in this transaction (`city.CityCache.get(tx)`)."""
        ...

    def catalogue_doc(self, name: str) -> Any | None:
        """As `Store.catalogue_doc`, read in this transaction."""
        ...

    def put_catalogue_doc(self, name: str, doc: Any) -> None: ...
    def save_photo(self, photo: PhotoRecord) -> None: ...
    def advance_photo(self, sha256: str, size: int, held: int, received: int, uploader: str) -> bool:
        """Compare-and-set of an upload's offset: the blob's record says `received` bytes are in
        only if it said `held` (0: no record yet, made now with `size` and `uploader`), its size is
        `size` and it is not complete; otherwise nothing changes and the answer is False. Of two
        uploads moving the same offset at once, in any processes, exactly one gets True (SQLite:
        an `UPDATE … WHERE received = ?` under the write lock; PostgreSQL: the same statement,
        which waits for the row's lock and checks again)."""
        ...

    def delete_photo(self, sha256: str) -> None: ...
    def photo_records(self, shas: Collection[str]) -> dict[str, PhotoRecord]:
        """The blobs the server holds (complete or not) among `shas`, by sha256."""
        ...

    def photo_holders(self, shas: Collection[str]) -> dict[str, list[Case]]:
        """For each of `shas` some stored case holds, those cases with just what
        `shared.rules.can_see` reads (id, category, reporter, status, grid, department, handler)."""
        ...

    def record_resolution(self, case_id: str, conflict_id: str, choice: str, actor: str, at: int) -> None: ...
    def cases_due_before(self, now: int) -> list[Case]:
        """Open cases with a deadline before `now` not yet flagged overdue, read under a lock held
        to commit: two sweeps at once (two `serve` processes, or `admin sweep` beside them) flag
        each case once — the second waits, then finds them flagged. SQLite: the write lock;
        PostgreSQL: an advisory transaction lock for the sweep, then `FOR UPDATE`."""
        ...

    # --- the admin audit -----------------------------------------------------------------------
    def record_admin_action(self, entry: AdminAction) -> int:
        """Append an entry to the admin audit; returns its `seq` (increasing, never reused).

        Guarantees every store gives: the entry commits or rolls back with this transaction (so
        with the action, when the action is written in the same transaction or `Store.group()`);
        entries are never changed or removed afterwards — the store refuses UPDATE and DELETE of
        them at the database level, for any client of the database, not only this code (SQLite:
        triggers; PostgreSQL: a trigger or revoked UPDATE/DELETE privileges). Someone with the
        database file's owner rights can still destroy it: keep backups, and the file 0600."""
        ...

    # --- the public feed (Open311) -------------------------------------------------------------
    def add_api_key(self, key: ApiKeyRecord) -> None: ...
    def revoke_api_key(self, key_id: str, now: int, by: str) -> bool:
        """False if there is no such key or it was revoked already (nothing changes then)."""
        ...

    def public_texts(self, case_ids: Collection[str]) -> dict[str, str]:
        """As `Store.public_texts`, read in this transaction (the text an edit replaces)."""
        ...

    def add_public_text(self, edit: PublicTextEdit) -> None:
        """Append an edit; the case's public text is now `edit.text` (`Store.public_texts`)."""
        ...


class BackupElsewhere(ValueError):
    """`Store.backup` on a store whose database is backed up by its own tools; the message names
    them (PostgreSQL: `pg_dump --format=custom`, or base backups with WAL archiving for
    point-in-time recovery). `admin backup` prints it and exits 2."""


class Store(Protocol):
    """Reads outside a transaction, and the way to open one.

    A store is shared by every thread of a process and by every process over the same database.
    Its reads see only committed data (never another transaction's work in progress) and each read
    is consistent on its own; reads that must agree with a write go through the `Transaction`.
    """

    kind: str  # "sqlite", "postgresql": shown by /health

    def transaction(self) -> AbstractContextManager[Transaction]: ...
    def close(self) -> None: ...
    def backup(self, dest: Path) -> None:
        """Copy everything committed, as of one moment, to `dest`, while the server keeps reading
        and writing. `dest` appears whole or not at all; it must not exist yet. What `dest` holds is
        the store's own: SQLite writes one database file there (`admin restore` installs it). A
        store whose database has its own backup tools raises `BackupElsewhere` naming them
        (PostgreSQL: `pg_dump`, or base backups and WAL archiving for point-in-time recovery);
        whatever the tool, a store that comes back from a backup takes a new `incarnation`."""
        ...

    def incarnation(self) -> str:
        """A random id for this life of the store, new at creation and after every restore from a
        backup: change numbers and device positions compare only within one incarnation."""
        ...

    def claim_nonce(self, device_id: str, nonce: str, ts: int, forget_before: int) -> bool:
        """Spend a signed request's nonce, outside any transaction: True the first time (device,
        nonce) is claimed, recorded with the request's timestamp `ts`; False ever after while it is
        remembered. Once across every process over this store (a unique key in the database, never
        a cache of one process): of two requests with the same nonce at once, in any processes,
        exactly one gets True.

        A nonce whose timestamp is before `forget_before` has expired (the caller passes now − 2 ×
        the replay window: a request that old is refused by its timestamp before its nonce is
        asked): claiming it again succeeds once, whether or not it was purged yet. Expired nonces
        are purged lazily, at most once a minute per process (`NONCE_PURGE_EVERY_S` of the
        request clock), never per request.

        It costs no transaction of the caller's: one statement that commits on its own (PostgreSQL:
        an autocommit `INSERT … ON CONFLICT (device_id, nonce) DO UPDATE … WHERE` the stored one
        expired; SQLite: the same upsert, which takes SQLite's write lock for that one statement —
        any SQLite write does). A signed GET therefore opens no transaction."""
        ...

    def change_notices(self) -> Callable[[], AsyncGenerator[int | None, None]] | None:
        """How a process hears of changes committed by every process over this store without
        reading the counter, or None where the store has no such channel (SQLite: the changes bell
        polls `change_seq`, `change_bell.ChangeBell`).

        Calling it starts listening on a connection of its own (one per process, for its bell):
        the iterator yields the committed counter once listening is in place, then a counter at
        or below the horizon after each commit of a change by any process (never an uncommitted
        one), and None when a heartbeat passes without any (the connection checked alive). It
        raises when its connection is lost; a later call listens again. PostgreSQL: `LISTEN` on
        a channel each change-reserving transaction `NOTIFY`s (`store/postgres/notify.py`)."""
        ...

    def worker(self, worker_id: str) -> WorkerRecord | None: ...
    def workers(self) -> list[WorkerRecord]: ...
    def device(self, device_id: str) -> DeviceRecord | None: ...
    def devices(self) -> list[DeviceRecord]: ...
    def case(self, case_id: str) -> Case | None: ...
    def case_by_number(self, case_no: str) -> Case | None: ...
    def cases(self) -> Iterator[Case]: ...
    def public_cases(self, query: PublicCaseQuery) -> list[Case]:
        """The cases `query` selects, newest first (`reported_at`, then case id, both descending),
        skipping `offset` and at most `limit` of them. The filters run in the database on an index:
        the work and memory of a call grow with `offset + limit` and with the matching cases it steps
        over, never with the size of the store, and only the returned cases' documents are read."""
        ...

    def public_texts(self, case_ids: Collection[str]) -> dict[str, str]:
        """The latest public text of each of these cases that has one."""
        ...

    def public_text_edits(self, case_id: str | None = None) -> list[PublicTextEdit]:
        """Every edit of public texts (of one case), oldest first: the audit of them."""
        ...

    def api_key(self, key_id: str) -> ApiKeyRecord | None: ...
    def api_keys(self) -> list[ApiKeyRecord]: ...
    def cases_with_open_conflicts(self) -> list[Case]: ...
    def cases_holding_photo(self, sha256: str) -> list[Case]: ...
    def change_seq(self) -> int:
        """The changes feed's horizon: every change number at or below it belongs to a committed
        write or will never be used, and a transaction that commits later only writes numbers above
        it. The feed (`changes.collect_changes`) reads it before its queries and never sends, nor
        moves a cursor past, anything above it: so it never skips a committed change and never shows
        an uncommitted one, whatever the concurrency of writers.

        SQLite: the change counter as committed — numbers are reserved inside the write transaction
        that commits them, and writers run one at a time, so they commit in number order.
        PostgreSQL: a sequence alone is not enough (a later number may commit first): the store
        reserves numbers under a lock held to commit (the counter row's lock), or answers the
        highest number below every number held by a transaction still in progress."""
        ...

    def changed_cases(self, cursor: int, limit: int, scope: ChangeScope) -> list[CaseChange]:
        """Committed cases changed after `cursor`, in change number order, at most `limit`: the
        first `limit` of them (the query is complete up to its last row)."""
        ...

    def device_outcomes(self, device_id: str, cursor: int, limit: int) -> list[OutcomeChange]:
        """The device's committed op outcomes after `cursor`, in change number order, the first
        `limit` of them."""
        ...

    def outcomes_of(self, device_id: str, first_seq: int, last_seq: int) -> list[OutcomeRow]: ...
    def catalogue_doc(self, name: str) -> Any | None: ...
    def catalogue_version(self) -> int: ...
    def photo(self, sha256: str) -> PhotoRecord | None: ...
    def group(self) -> AbstractContextManager[None]:
        """Many transactions, one commit (the overnight ingest; an admin change and its audit entry).

        Groups behave as savepoints: inside a group, each `transaction()` of the same thread is a
        savepoint of the group's one database transaction, which commits or rolls back as a whole
        (an exception in it undoes it and nothing else), and the group commits every completed one
        at its end — also when the group is left by an exception (what completed is whole, so it is
        kept). The group holds one connection: the store's reads on its thread inside it go through
        that connection and see the group's work, never a second connection. Groups do not nest
        (RuntimeError). Nothing of a group is visible to others before it commits; their writes
        wait for it where they meet it (SQLite: all writes; PostgreSQL: rows it has locked).
        SQLite: `BEGIN IMMEDIATE … COMMIT` with `SAVEPOINT`s; PostgreSQL: `BEGIN … COMMIT` with
        `SAVEPOINT`s on the connection the group holds."""
        ...

    def has_held(self, device_id: str) -> bool: ...
    def backlog_devices(self, received_before: int) -> list[str]: ...
    def backlog_size(self) -> int: ...
    def open_conflict_count(self) -> int:
        """Cases with a hard conflict waiting for review (for /metrics)."""
        ...

    def overdue_count(self) -> int:
        """Open cases flagged overdue (for /metrics)."""
        ...

    def size_bytes(self) -> int:
        """The database's size on disk (for /metrics)."""
        ...

    def quarantined(self) -> list[QuarantineRecord]: ...
    def audit_rows(self, case_id: str | None = None) -> list[AuditRow]: ...
    def admin_actions(
        self, *, action: str | None = None, target: str | None = None, since: int | None = None,
        until: int | None = None,
    ) -> list[AdminAction]:  # fmt: skip
        """The admin audit, oldest first: entries of that action, on that target, at or after
        `since`, before `until` (each filter optional)."""
        ...
