"""The write half of the PostgreSQL store: one `PgTransaction` per database transaction.

Concurrency comes from the database, never from a lock of this process (several server processes,
on several machines, write the same database):

- the device's position: `pg_advisory_xact_lock(DEVICE_LOCK_CLASS, hashtext(device_id))` (which also
  covers a device with no row yet) and `SELECT … FOR UPDATE` of its `devices` row (`lock_device`),
  both held to commit;
  the backlog of a device is read under the same lock (`held_segments`);
- the cases a segment changes: `SELECT … FOR UPDATE` of their rows, in case id order (`load_cases`),
  so two segments editing one case run one after the other and the second sees the first's edit;
- counters (change numbers, case numbers, the catalogue version): `INSERT … ON CONFLICT DO UPDATE`
  of their `counters` row, whose row lock is held to commit. Change numbers are therefore reserved
  and committed in number order, and the committed counter is the changes feed's horizon;
- the overdue sweep: `pg_advisory_xact_lock(SWEEP_LOCK)` before it reads what is due, so two
  processes sweeping at once mark each case once;
- unique constraints: one op log row per (device, seq), one applied segment per (device, first_seq),
  one held segment per (device, first_seq), one nonce per (device, nonce).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

import psycopg

from shared.ledger import DevicePosition
from shared.model import ENDED, Case, Status, case_to_dict
from shared.rules import Outcome
from sync_server.store.base import (
    AdminAction,
    ApiKeyRecord,
    DeviceRecord,
    EnrollmentCode,
    HeldSegment,
    Nearby,
    OpLogRow,
    PhotoRecord,
    PublicTextEdit,
    QuarantineRecord,
    WorkerRecord,
)
from sync_server.store.postgres.notify import CHANNEL
from sync_server.store.sqlite_tx import decode_tree, dump_json, encode_tree, load_case

# pg_advisory_xact_lock keys (schema migrations: schema.migrations.MIGRATION_LOCK)
SWEEP_LOCK = 0x67726964_0002
DEVICE_LOCK_CLASS = 0x6772  # pg_advisory_xact_lock(class, hashtext(device_id)): a device's position
CASE_COLUMNS = (
    "case_id, case_no, status, category, grid_code, department, handler, reporter, lat, lon, "
    "reported_at, closed_at, deadline, overdue, open_conflicts, version, change_seq, doc"
)
_UPSERT_CASE = (
    f"INSERT INTO cases ({CASE_COLUMNS}) VALUES ({', '.join(['%s'] * 18)}) ON CONFLICT (case_id) DO UPDATE SET "
    "case_no = excluded.case_no, status = excluded.status, category = excluded.category, "
    "grid_code = excluded.grid_code, department = excluded.department, handler = excluded.handler, "
    "lat = excluded.lat, lon = excluded.lon, closed_at = excluded.closed_at, "
    "deadline = excluded.deadline, overdue = excluded.overdue, open_conflicts = excluded.open_conflicts, "
    "version = excluded.version, change_seq = excluded.change_seq, doc = excluded.doc"
)
_INSERT_OP = (
    "INSERT INTO op_log (device_id, seq, op_id, actor, case_id, kind, outcome, code, version, detail, "
    "change_seq, received_at, applied_at, flags) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_OPEN_STATUSES = [str(s) for s in Status if s not in ENDED]
_WORKER_COLUMNS = "worker_id, name, role, department, grids, all_grids"
# ST_DWithin on the spheroid; the rule (`shared.rules`) measures on a sphere: a 2 % margin, never a miss
_RADIUS_MARGIN = 1.02


def case_row(case: Case, change_seq: int) -> tuple[Any, ...]:
    loc = case.location
    return (
        case.case_id, case.case_no, str(case.status), case.category, case.grid_code, case.department,
        case.handler, case.reporter, None if loc is None else loc.lat, None if loc is None else loc.lon,
        case.reported_at, case.closed_at, case.deadline, int(case.overdue), len(case.open_conflicts()),
        case.version, change_seq, encode_tree(case_to_dict(case)),
    )  # fmt: skip


def worker_of(row: Any) -> WorkerRecord:
    return WorkerRecord(row[0], row[1], row[2], row[3], tuple(json.loads(row[4])), bool(row[5]))


class PgTransaction:
    """Implements `store.base.Transaction` over one connection inside a transaction (or savepoint)."""

    def __init__(self, db: psycopg.Connection) -> None:
        self.db = db
        # case id -> the photos its stored document already had: their `photo_refs` rows exist
        self.stored_photos: dict[str, set[str]] = {}

    def _one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self.db.execute(sql, args).fetchone()  # type: ignore[call-overload]

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        return self.db.execute(sql, args).fetchall()  # type: ignore[call-overload]

    # --- devices and their place in the sequence ---------------------------------------------
    def lock_device(self, device_id: str) -> DevicePosition:
        # The advisory lock covers a device with no row yet (nothing for FOR UPDATE to lock); the row
        # lock keeps out any writer of the row that does not ask for the advisory lock.
        self.db.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (DEVICE_LOCK_CLASS, device_id))
        row = self._one(
            "SELECT last_seq, last_hash FROM devices WHERE device_id = %s FOR UPDATE", (device_id,)
        )
        if row is None:
            return DevicePosition(0, bytes(32))
        return DevicePosition(int(row[0]), bytes(row[1]))

    def set_device_position(self, device_id: str, last_seq: int, last_hash: bytes) -> None:
        self.db.execute(
            "UPDATE devices SET last_seq = %s, last_hash = %s WHERE device_id = %s",
            (last_seq, last_hash, device_id),
        )

    def applied_segment(self, device_id: str, first_seq: int) -> tuple[bytes, dict[str, Any]] | None:
        row = self._one(
            "SELECT hash, last_seq, receipt, first_change, last_change FROM applied_segments "
            "WHERE device_id = %s AND first_seq = %s",
            (device_id, first_seq),
        )
        if row is None:
            return None
        digest, last_seq, stored, first_change, last_change = bytes(row[0]), row[1], row[2], row[3], row[4]
        if stored is not None:  # copied from a SQLite store that kept whole receipts (before its migration 3)
            return digest, decode_tree(stored)
        outcomes = self._rows(
            "SELECT op_id, seq, case_id, outcome, code, version, detail, flags FROM op_log "
            "WHERE device_id = %s AND change_seq BETWEEN %s AND %s ORDER BY seq",
            (device_id, first_change, last_change),
        )
        receipt: dict[str, Any] = {
            "device_id": device_id,
            "first_seq": first_seq,
            "last_seq": last_seq,
            "status": "applied",
            "outcomes": [Outcome(*o[:7]).to_dict() for o in outcomes],
        }
        if outcomes and outcomes[0][7] == "late":
            receipt["late"] = True
        return digest, receipt

    def record_applied_segment(
        self, device_id: str, first_seq: int, last_seq: int, segment_hash: bytes, changes: tuple[int, int]
    ) -> None:
        self.db.execute(
            "INSERT INTO applied_segments (device_id, first_seq, last_seq, hash, first_change, last_change) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (device_id, first_seq, last_seq, segment_hash, changes[0], changes[1]),
        )
        self.db.execute(
            "DELETE FROM segments_seen WHERE device_id = %s AND first_seq = %s", (device_id, first_seq)
        )

    def applied_overlapping(self, device_id: str, first_seq: int, last_seq: int) -> bool:
        row = self._one(
            "SELECT last_seq FROM applied_segments WHERE device_id = %s AND first_seq <= %s "
            "ORDER BY first_seq DESC LIMIT 1",
            (device_id, last_seq),
        )
        return row is not None and int(row[0]) >= first_seq

    def first_seen(self, device_id: str, first_seq: int, segment_hash: bytes, now: int) -> int:
        row = self._one(
            "INSERT INTO segments_seen (device_id, first_seq, hash, seen_at) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (device_id, first_seq, hash) DO UPDATE SET seen_at = segments_seen.seen_at "
            "RETURNING seen_at",
            (device_id, first_seq, segment_hash, now),
        )
        return int(row[0])

    # --- cases ---------------------------------------------------------------------------------
    def load_cases(self, case_ids: Collection[str]) -> dict[str, Case]:
        """The cases, each row locked to commit (in case id order: two transactions never wait on
        each other's half)."""
        if not case_ids:
            return {}
        rows = self._rows(
            "SELECT case_id, doc FROM cases WHERE case_id = ANY(%s) ORDER BY case_id FOR UPDATE",
            (sorted(case_ids),),
        )
        found: dict[str, Case] = {}
        for case_id, doc in rows:
            case = found[case_id] = load_case(doc)
            if case.photos:
                self.stored_photos[case_id] = {p.sha256 for p in case.photos}
        return found

    def duplicate_candidates(
        self, points: Sequence[tuple[str, float, float]], radius_m: float, since: int
    ) -> list[Nearby]:
        """One query for all the points: `ST_DWithin` on the GiST index of `cases.place`."""
        if not points:
            return []
        rows = self._rows(
            "SELECT a.point - 1, c.case_id, c.category, c.status, c.lat, c.lon, c.reported_at "
            "FROM unnest(%s::text[], %s::float8[], %s::float8[]) WITH ORDINALITY AS a(category, lat, lon, point) "
            "JOIN cases c ON c.category = a.category AND c.reported_at >= %s "
            "AND c.status NOT IN ('rejected', 'voided', 'duplicate') "
            "AND ST_DWithin(c.place, ST_SetSRID(ST_MakePoint(a.lon, a.lat), 4326)::geography, %s)",
            (
                [p[0] for p in points],
                [p[1] for p in points],
                [p[2] for p in points],
                since,
                radius_m * _RADIUS_MARGIN,
            ),
        )
        return [Nearby(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]

    def _bump(self, name: str, count: int) -> int:
        # the counter row's lock is held to commit: numbers are reserved and committed in order
        row = self._one(
            "INSERT INTO counters (name, value) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value RETURNING value",
            (name, count),
        )
        return int(row[0]) - count + 1

    def reserve_change_seqs(self, count: int) -> int:
        # announced to every process's listener when (and only if) this transaction commits
        # (`notify.py`); by then the horizon has reached `last`
        row = self._one(
            "WITH bumped AS (INSERT INTO counters (name, value) VALUES ('change_seq', %s) "
            "ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value RETURNING value) "
            "SELECT value, pg_notify(%s, value::text) FROM bumped",
            (count, CHANNEL),
        )
        return int(row[0]) - count + 1

    def reserve_case_numbers(self, year: int, count: int) -> int:
        return self._bump(f"case_no:{year}", count)

    def save_cases(self, cases: Sequence[tuple[Case, int]]) -> None:
        with self.db.cursor() as cur:
            cur.executemany(_UPSERT_CASE, [case_row(case, seq) for case, seq in cases])
            refs = []
            for case, _ in cases:
                if case.photos:
                    known = self.stored_photos.get(case.case_id, ())
                    refs += [(p.sha256, case.case_id) for p in case.photos if p.sha256 not in known]
            if refs:
                cur.executemany(
                    "INSERT INTO photo_refs (sha256, case_id) VALUES (%s, %s) ON CONFLICT DO NOTHING", refs
                )

    def record_ops(self, rows: Sequence[OpLogRow]) -> None:
        with self.db.cursor() as cur:
            cur.executemany(_INSERT_OP, rows)

    def cases_due_before(self, now: int) -> list[Case]:
        """Under the sweep's advisory lock: a second process sweeping meanwhile waits, then finds
        the cases marked overdue already."""
        self.db.execute("SELECT pg_advisory_xact_lock(%s)", (SWEEP_LOCK,))
        rows = self._rows(
            "SELECT doc FROM cases WHERE deadline IS NOT NULL AND overdue = 0 AND deadline < %s "
            "AND status = ANY(%s) ORDER BY case_id FOR UPDATE",
            (now, _OPEN_STATUSES),
        )
        return [load_case(row[0]) for row in rows]

    # --- the public feed (Open311) ----------------------------------------------------------
    def add_api_key(self, key: ApiKeyRecord) -> None:
        self.db.execute(
            "INSERT INTO api_keys (key_id, secret_hash, name, rate_per_minute, issued_at, issued_by, revoked_at, "
            "revoked_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (key.key_id, key.secret_hash, key.name, key.rate_per_minute, key.issued_at, key.issued_by,
             key.revoked_at, key.revoked_by),
        )  # fmt: skip

    def revoke_api_key(self, key_id: str, now: int, by: str) -> bool:
        cur = self.db.execute(
            "UPDATE api_keys SET revoked_at = %s, revoked_by = %s WHERE key_id = %s AND revoked_at IS NULL",
            (now, by, key_id),
        )
        return cur.rowcount == 1

    def public_texts(self, case_ids: Collection[str]) -> dict[str, str]:
        rows = self._rows(
            "SELECT DISTINCT ON (case_id) case_id, text FROM public_texts WHERE case_id = ANY(%s) "
            "ORDER BY case_id, id DESC",
            (list(case_ids),),
        )
        return {r[0]: r[1] for r in rows}

    def add_public_text(self, edit: PublicTextEdit) -> None:
        self.db.execute(
            "INSERT INTO public_texts (case_id, text, before, edited_by, edited_at) VALUES (%s, %s, %s, %s, %s)",
            (edit.case_id, edit.text, edit.before, edit.edited_by, edit.edited_at),
        )

    # --- backlog and quarantine -------------------------------------------------------------
    def hold_segment(self, held: HeldSegment) -> bool:
        cur = self.db.execute(
            "INSERT INTO backlog (device_id, first_seq, last_seq, hash, bytes, received_at) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (held.device_id, held.first_seq, held.last_seq, held.segment_hash, held.blob, held.received_at),
        )
        return cur.rowcount == 1

    def held_segments(self, device_id: str) -> list[HeldSegment]:
        """Read under the device's lock (`lock_device`): another process draining the same backlog
        waits until this transaction ends, then sees what it released."""
        self.lock_device(device_id)
        rows = self._rows(
            "SELECT device_id, first_seq, last_seq, hash, bytes, received_at FROM backlog WHERE device_id = %s "
            "ORDER BY first_seq",
            (device_id,),
        )
        return [HeldSegment(r[0], r[1], r[2], bytes(r[3]), bytes(r[4]), r[5]) for r in rows]

    def release_held(self, device_id: str, first_seq: int) -> None:
        self.db.execute("DELETE FROM backlog WHERE device_id = %s AND first_seq = %s", (device_id, first_seq))

    def quarantine_segment(self, record: QuarantineRecord) -> None:
        self.db.execute(
            "DELETE FROM segments_seen WHERE device_id = %s AND first_seq = %s AND hash = %s",
            (record.device_id, record.first_seq, record.segment_hash),
        )
        self.db.execute(
            "INSERT INTO quarantine (device_id, first_seq, last_seq, hash, reason, received_at, bytes) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (record.device_id, record.first_seq, record.last_seq, record.segment_hash, record.reason,
             record.received_at, record.blob),
        )  # fmt: skip

    # --- people and devices -------------------------------------------------------------------
    def worker(self, worker_id: str) -> WorkerRecord | None:
        row = self._one(f"SELECT {_WORKER_COLUMNS} FROM workers WHERE worker_id = %s", (worker_id,))
        return None if row is None else worker_of(row)

    def save_worker(self, worker: WorkerRecord) -> None:
        self.db.execute(
            "INSERT INTO workers (worker_id, name, role, department, grids, all_grids) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (worker_id) DO UPDATE SET name = excluded.name, role = excluded.role, "
            "department = excluded.department, grids = excluded.grids, all_grids = excluded.all_grids",
            (worker.worker_id, worker.name, worker.role, worker.department, dump_json(list(worker.grids)),
             int(worker.all_grids)),
        )  # fmt: skip

    def add_enrollment_code(self, code: EnrollmentCode) -> None:
        self.db.execute(
            "INSERT INTO enrollment_codes (code_hash, worker_id, expires_at, used_at) VALUES (%s, %s, %s, %s)",
            (code.code_hash, code.worker_id, code.expires_at, code.used_at),
        )

    def use_enrollment_code(self, code_hash: str, now: int) -> str | None:
        row = self._one(
            "UPDATE enrollment_codes SET used_at = %s WHERE code_hash = %s AND used_at IS NULL AND expires_at > %s "
            "RETURNING worker_id",
            (now, code_hash, now),
        )
        return None if row is None else str(row[0])

    def add_device(self, device: DeviceRecord) -> None:
        self.db.execute(
            "INSERT INTO devices (device_id, worker_id, signing_key, encryption_key, name, enrolled_at, revoked_at, "
            "last_seq, last_hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (device.device_id, device.worker_id, device.signing_key, device.encryption_key, device.name,
             device.enrolled_at, device.revoked_at, device.last_seq, device.last_hash),
        )  # fmt: skip

    def revoke_device(self, device_id: str, now: int) -> bool:
        cur = self.db.execute(
            "UPDATE devices SET revoked_at = %s WHERE device_id = %s AND revoked_at IS NULL", (now, device_id)
        )
        return cur.rowcount == 1

    # --- the city's catalogue and photos -----------------------------------------------------
    def catalogue_version(self) -> int:
        row = self._one("SELECT value FROM counters WHERE name = 'catalogue_version'")
        return 0 if row is None else int(row[0])

    def catalogue_doc(self, name: str) -> Any | None:
        row = self._one("SELECT doc FROM catalogue_docs WHERE name = %s", (name,))
        return None if row is None else json.loads(row[0])

    def put_catalogue_doc(self, name: str, doc: Any) -> None:
        self.db.execute(
            "INSERT INTO catalogue_docs (name, doc, updated) VALUES (%s, %s, 1) ON CONFLICT (name) DO UPDATE SET "
            "doc = excluded.doc, updated = catalogue_docs.updated + 1",
            (name, dump_json(doc)),
        )
        self._bump("catalogue_version", 1)

    def save_photo(self, photo: PhotoRecord) -> None:
        self.db.execute(
            "INSERT INTO photos (sha256, size, received, complete, uploader) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (sha256) DO UPDATE SET size = excluded.size, received = excluded.received, "
            "complete = excluded.complete, uploader = COALESCE(photos.uploader, excluded.uploader)",
            (photo.sha256, photo.size, photo.received, int(photo.complete), photo.uploader),
        )

    def advance_photo(self, sha256: str, size: int, held: int, received: int, uploader: str) -> bool:
        # The UPDATE waits for the row's lock and checks `received` again on the committed row
        # (READ COMMITTED re-evaluation): of two chunks at the same offset exactly one moves it.
        if held == 0:
            cur = self.db.execute(
                "INSERT INTO photos (sha256, size, received, complete, uploader) VALUES (%s, %s, %s, 0, %s) "
                "ON CONFLICT (sha256) DO UPDATE SET received = excluded.received, "
                "uploader = COALESCE(photos.uploader, excluded.uploader) "
                "WHERE photos.received = 0 AND photos.complete = 0 AND photos.size = excluded.size",
                (sha256, size, received, uploader),
            )
        else:
            cur = self.db.execute(
                "UPDATE photos SET received = %s WHERE sha256 = %s AND received = %s AND size = %s AND complete = 0",
                (received, sha256, held, size),
            )
        return cur.rowcount == 1

    def photo_records(self, shas: Collection[str]) -> dict[str, PhotoRecord]:
        if not shas:
            return {}
        rows = self._rows(
            "SELECT sha256, size, received, complete, uploader FROM photos WHERE sha256 = ANY(%s)",
            (sorted(shas),),
        )
        return {r[0]: PhotoRecord(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows}

    def photo_holders(self, shas: Collection[str]) -> dict[str, list[Case]]:
        if not shas:
            return {}
        rows = self._rows(
            "SELECT r.sha256, c.case_id, c.category, c.reporter, c.status, c.grid_code, c.department, c.handler "
            "FROM photo_refs r JOIN cases c ON c.case_id = r.case_id WHERE r.sha256 = ANY(%s) "
            "ORDER BY r.sha256, c.case_id",
            (sorted(shas),),
        )
        found: dict[str, list[Case]] = {}
        for r in rows:
            found.setdefault(r[0], []).append(
                Case(case_id=r[1], category=r[2], reporter=r[3], status=r[4], grid_code=r[5], department=r[6],
                     handler=r[7])
            )  # fmt: skip
        return found

    def delete_photo(self, sha256: str) -> None:
        self.db.execute("DELETE FROM photos WHERE sha256 = %s", (sha256,))

    def record_admin_action(self, entry: AdminAction) -> int:
        row = self._one(
            "INSERT INTO admin_audit (at, os_user, action, target, before, after) VALUES (%s, %s, %s, %s, %s, %s) "
            "RETURNING id",
            (
                entry.at,
                entry.os_user,
                entry.action,
                entry.target,
                dump_json(entry.before),
                dump_json(entry.after),
            ),
        )
        return int(row[0])

    def record_resolution(self, case_id: str, conflict_id: str, choice: str, actor: str, at: int) -> None:
        self.db.execute(
            "INSERT INTO conflict_resolutions (case_id, conflict_id, choice, actor, at) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (case_id, conflict_id) DO UPDATE SET choice = excluded.choice, actor = excluded.actor, "
            "at = excluded.at",
            (case_id, conflict_id, choice, actor, at),
        )
