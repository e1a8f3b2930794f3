"""The write half of the SQLite store: one `SqliteTransaction` per `BEGIN IMMEDIATE … COMMIT`.

Speed matters here (a night's million ops): a segment's cases are loaded in one query and written
with `executemany`; counters are reserved in blocks, not one row update per op.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Collection, Sequence
from typing import Any

import orjson

from shared.ledger import DevicePosition
from shared.model import ENDED, Case, Status, case_from_dict, case_to_dict
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
from sync_server.store.case_text import pack, unpack
from sync_server.store.cells import cell_key, neighbourhood
from sync_server.store.op_log import OF_DEVICE, RECEIPT_COLUMNS, name_numbers, pack_id, text_id

CASE_COLUMNS = (
    "case_id, case_no, status, category, grid_code, department, handler, reporter, lat, lon, "
    "reported_at, closed_at, deadline, overdue, open_conflicts, version, change_seq, near, doc"
)
_UPSERT_CASE = (
    f"INSERT INTO cases ({CASE_COLUMNS}) VALUES ({', '.join('?' * 19)}) ON CONFLICT(case_id) DO UPDATE SET "
    "case_no = excluded.case_no, status = excluded.status, category = excluded.category, "
    "grid_code = excluded.grid_code, department = excluded.department, handler = excluded.handler, "
    "lat = excluded.lat, lon = excluded.lon, closed_at = excluded.closed_at, "
    "deadline = excluded.deadline, overdue = excluded.overdue, open_conflicts = excluded.open_conflicts, "
    "version = excluded.version, change_seq = excluded.change_seq, near = excluded.near, doc = excluded.doc"
)
_INSERT_OP = (
    "INSERT INTO op_log (device_no, seq, op_id, actor_no, case_id, kind_no, outcome_no, code, version, detail, "
    "change_seq, received_at, waited, flags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_OPEN_STATUSES = tuple(str(s) for s in Status if s not in ENDED)
_DEGREE_LAT_M = 111_195.0  # metres per degree of latitude (a radius in degrees, with a 2% margin)


def dump_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# Case documents are trees of plain values made here, never cyclic: the standard
# library's fallback skips the circular check (a dict of ids per container, ~15 % of its time).
_encode_std = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


def encode_tree(value: Any) -> str:
    """Compact JSON text of a case document, as `dump_json` would write it (UTF-8, no
    spaces; the same values, key order and parse). orjson takes ~1 µs where the standard library takes
    ~7 for a case, which a night of a million ops writes ~300,000 times. orjson refuses integers
    beyond 64 bits; those (which no valid op makes) go the standard library's way."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return _encode_std(value)


def decode_tree(text: str) -> Any:
    """The inverse of `encode_tree`: orjson, or the standard library for what orjson refuses."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def case_row(case: Case, change_seq: int) -> tuple[Any, ...]:
    loc = case.location
    return (
        case.case_id,
        case.case_no,
        str(case.status),
        case.category,
        case.grid_code,
        case.department,
        case.handler,
        case.reporter,
        None if loc is None else loc.lat,
        None if loc is None else loc.lon,
        case.reported_at,
        case.closed_at,
        case.deadline,
        int(case.overdue),
        len(case.open_conflicts()),
        case.version,
        change_seq,
        None if loc is None else cell_key(case.category, loc.lat, loc.lon),
        pack(encode_tree(case_to_dict(case))),
    )


def load_case(doc: str | bytes) -> Case:
    """A case from its stored document: JSON text, or (SQLite) its packed form (`case_text`)."""
    return case_from_dict(decode_tree(unpack(doc)))


class SqliteTransaction:
    """Implements `store.base.Transaction` over one connection inside BEGIN IMMEDIATE."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        # case id -> the photos its stored document already had: their `photo_refs` rows exist
        self.stored_photos: dict[str, set[str]] = {}

    # --- devices and their place in the sequence ---------------------------------------------
    def lock_device(self, device_id: str) -> DevicePosition:
        # The lock is the write lock this transaction took with BEGIN IMMEDIATE (or its group did):
        # no other connection writes until it commits.
        row = self.db.execute(
            "SELECT last_seq, last_hash FROM devices WHERE device_id = ?", (device_id,)
        ).fetchone()
        if row is None:
            return DevicePosition(0, bytes(32))
        return DevicePosition(int(row[0]), bytes(row[1]))

    def set_device_position(self, device_id: str, last_seq: int, last_hash: bytes) -> None:
        self.db.execute(
            "UPDATE devices SET last_seq = ?, last_hash = ? WHERE device_id = ?",
            (last_seq, last_hash, device_id),
        )

    def applied_segment(self, device_id: str, first_seq: int) -> tuple[bytes, dict[str, Any]] | None:
        row = self.db.execute(
            "SELECT hash, last_seq, receipt, first_change, last_change FROM applied_segments "
            "WHERE device_id = ? AND first_seq = ?",
            (device_id, first_seq),
        ).fetchone()
        if row is None:
            return None
        digest, last_seq, stored, first_change, last_change = bytes(row[0]), row[1], row[2], row[3], row[4]
        if stored is not None:  # stored before store migration 3
            return digest, decode_tree(stored)
        outcomes = self.db.execute(
            f"SELECT {RECEIPT_COLUMNS} FROM op_log "
            f"INDEXED BY op_log_feed WHERE {OF_DEVICE} AND change_seq BETWEEN ? AND ? ORDER BY seq",
            (device_id, first_change, last_change),
        ).fetchall()
        receipt: dict[str, Any] = {
            "device_id": device_id,
            "first_seq": first_seq,
            "last_seq": last_seq,
            "status": "applied",
            "outcomes": [Outcome(text_id(o[0]), o[1], text_id(o[2]), *o[3:7]).to_dict() for o in outcomes],
        }
        if outcomes and outcomes[0][7] == "late":  # applied into numbers a forced apply skipped
            receipt["late"] = True
        return digest, receipt

    def record_applied_segment(
        self, device_id: str, first_seq: int, last_seq: int, segment_hash: bytes, changes: tuple[int, int]
    ) -> None:
        self.db.execute(
            "INSERT INTO applied_segments (device_id, first_seq, last_seq, hash, first_change, last_change) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (device_id, first_seq, last_seq, segment_hash, changes[0], changes[1]),
        )
        self.db.execute(
            "DELETE FROM segments_seen WHERE device_id = ? AND first_seq = ?", (device_id, first_seq)
        )

    def applied_overlapping(self, device_id: str, first_seq: int, last_seq: int) -> bool:
        # Applied segments never overlap one another: the one starting nearest at or before
        # `last_seq` is the only one that can hold any of these numbers.
        row = self.db.execute(
            "SELECT last_seq FROM applied_segments WHERE device_id = ? AND first_seq <= ? "
            "ORDER BY first_seq DESC LIMIT 1",
            (device_id, last_seq),
        ).fetchone()
        return row is not None and int(row[0]) >= first_seq

    def first_seen(self, device_id: str, first_seq: int, segment_hash: bytes, now: int) -> int:
        row = self.db.execute(
            "INSERT INTO segments_seen (device_id, first_seq, hash, seen_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT DO UPDATE SET seen_at = seen_at RETURNING seen_at",
            (device_id, first_seq, segment_hash, now),
        ).fetchall()[0]  # fetched to the end: a RETURNING statement left pending keeps the file open
        return int(row[0])

    # --- cases ---------------------------------------------------------------------------------
    def load_cases(self, case_ids: Collection[str]) -> dict[str, Case]:
        if not case_ids:
            return {}
        rows = self.db.execute(
            "SELECT case_id, doc FROM cases WHERE case_id IN (SELECT value FROM json_each(?))",
            (dump_json(list(case_ids)),),
        ).fetchall()
        found: dict[str, Case] = {}
        for case_id, doc in rows:
            case = found[case_id] = load_case(doc)
            if case.photos:
                self.stored_photos[case_id] = {p.sha256 for p in case.photos}
        return found

    def duplicate_candidates(
        self, points: Sequence[tuple[str, float, float]], radius_m: float, since: int
    ) -> list[Nearby]:
        """One query for a whole segment's creates, on the `cases_near` index: per point, its
        neighbourhood keys (`store.cells`), then a flat-earth distance test with a 2% margin
        (lat-only where the flat earth is not good enough) on index entries alone; only the cases
        that pass are read for their id and category (never their JSON document), and few come back."""
        asked = []
        for index, (category, lat, lon) in enumerate(points):
            lon_scale = math.cos(math.radians(lat)) * 0.98 if abs(lat) < 80 else 0.0
            keys = neighbourhood(category, lat, lon, radius_m)
            asked += [(index, key, lat, lon, lon_scale) for key in keys]
        self.db.execute("DELETE FROM temp.near_asked")
        self.db.executemany("INSERT INTO temp.near_asked VALUES (?, ?, ?, ?, ?)", asked)
        rows = self.db.execute(
            "SELECT a.point, c.case_id, c.category, c.status, c.lat, c.lon, c.reported_at "
            "FROM temp.near_asked AS a JOIN cases AS c INDEXED BY cases_near "
            "ON c.near = a.key AND c.reported_at >= ? WHERE c.status NOT IN ('rejected', 'voided', 'duplicate') "
            "AND (c.lat - a.lat) * (c.lat - a.lat) + (c.lon - a.lon) * a.lon_scale * (c.lon - a.lon) * a.lon_scale <= ?",
            (since, (radius_m * 1.02 / _DEGREE_LAT_M) ** 2),
        ).fetchall()
        return [Nearby(*row) for row in rows]

    def _bump(self, name: str, count: int) -> int:
        row = self.db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value RETURNING value",
            (name, count),
        ).fetchone()
        return int(row[0]) - count + 1

    def reserve_change_seqs(self, count: int) -> int:
        return self._bump("change_seq", count)

    def reserve_case_numbers(self, year: int, count: int) -> int:
        return self._bump(f"case_no:{year}", count)

    def save_cases(self, cases: Sequence[tuple[Case, int]]) -> None:
        self.db.executemany(_UPSERT_CASE, [case_row(case, seq) for case, seq in cases])
        refs = []
        for case, _ in cases:  # only photos its stored document did not have (photos are never removed)
            if case.photos:
                known = self.stored_photos.get(case.case_id, ())
                refs += [(p.sha256, case.case_id) for p in case.photos if p.sha256 not in known]
        if refs:
            self.db.executemany("INSERT OR IGNORE INTO photo_refs (sha256, case_id) VALUES (?, ?)", refs)

    def record_ops(self, rows: Sequence[OpLogRow]) -> None:
        if not rows:
            return
        number = name_numbers(self.db, {n for r in rows for n in (r.device_id, r.actor, r.kind, r.outcome)})
        self.db.executemany(
            _INSERT_OP,
            [
                (number[r.device_id], r.seq, pack_id(r.op_id), number[r.actor], pack_id(r.case_id),
                 number[r.kind], number[r.outcome], r.code, r.version, r.detail, r.change_seq, r.received_at,
                 r.applied_at - r.received_at, r.flags)
                for r in rows
            ],
        )  # fmt: skip

    def cases_due_before(self, now: int) -> list[Case]:
        rows = self.db.execute(
            "SELECT doc FROM cases WHERE deadline IS NOT NULL AND overdue = 0 AND deadline < ? "
            "AND status IN (SELECT value FROM json_each(?))",
            (now, dump_json(_OPEN_STATUSES)),
        ).fetchall()
        return [load_case(row[0]) for row in rows]

    # --- the public feed (Open311) ----------------------------------------------------------
    def add_api_key(self, key: ApiKeyRecord) -> None:
        self.db.execute(
            "INSERT INTO api_keys (key_id, secret_hash, name, rate_per_minute, issued_at, issued_by, revoked_at, "
            "revoked_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (key.key_id, key.secret_hash, key.name, key.rate_per_minute, key.issued_at, key.issued_by,
             key.revoked_at, key.revoked_by),
        )  # fmt: skip

    def revoke_api_key(self, key_id: str, now: int, by: str) -> bool:
        cursor = self.db.execute(
            "UPDATE api_keys SET revoked_at = ?, revoked_by = ? WHERE key_id = ? AND revoked_at IS NULL",
            (now, by, key_id),
        )
        return cursor.rowcount == 1

    def public_texts(self, case_ids: Collection[str]) -> dict[str, str]:
        rows = self.db.execute(
            "SELECT case_id, text FROM public_texts WHERE id IN (SELECT MAX(id) FROM public_texts "
            "WHERE case_id IN (SELECT value FROM json_each(?)) GROUP BY case_id)",
            (dump_json(list(case_ids)),),
        ).fetchall()
        return {r[0]: r[1] for r in rows}

    def add_public_text(self, edit: PublicTextEdit) -> None:
        self.db.execute(
            "INSERT INTO public_texts (case_id, text, before, edited_by, edited_at) VALUES (?, ?, ?, ?, ?)",
            (edit.case_id, edit.text, edit.before, edit.edited_by, edit.edited_at),
        )

    # --- backlog and quarantine -------------------------------------------------------------
    def hold_segment(self, held: HeldSegment) -> bool:
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO backlog (device_id, first_seq, last_seq, hash, bytes, received_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (held.device_id, held.first_seq, held.last_seq, held.segment_hash, held.blob, held.received_at),
        )
        return cursor.rowcount == 1

    def held_segments(self, device_id: str) -> list[HeldSegment]:
        rows = self.db.execute(
            "SELECT device_id, first_seq, last_seq, hash, bytes, received_at FROM backlog WHERE device_id = ? "
            "ORDER BY first_seq",
            (device_id,),
        ).fetchall()
        return [HeldSegment(r[0], r[1], r[2], bytes(r[3]), bytes(r[4]), r[5]) for r in rows]

    def release_held(self, device_id: str, first_seq: int) -> None:
        self.db.execute("DELETE FROM backlog WHERE device_id = ? AND first_seq = ?", (device_id, first_seq))

    def quarantine_segment(self, record: QuarantineRecord) -> None:
        self.db.execute(
            "DELETE FROM segments_seen WHERE device_id = ? AND first_seq = ? AND hash = ?",
            (record.device_id, record.first_seq, record.segment_hash),
        )
        self.db.execute(
            "INSERT INTO quarantine (device_id, first_seq, last_seq, hash, reason, received_at, bytes) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (record.device_id, record.first_seq, record.last_seq, record.segment_hash, record.reason,
             record.received_at, record.blob),
        )  # fmt: skip

    # --- people and devices -------------------------------------------------------------------
    def worker(self, worker_id: str) -> WorkerRecord | None:
        row = self.db.execute(
            "SELECT worker_id, name, role, department, grids, all_grids FROM workers WHERE worker_id = ?",
            (worker_id,),
        ).fetchone()
        if row is None:
            return None
        return WorkerRecord(row[0], row[1], row[2], row[3], tuple(json.loads(row[4])), bool(row[5]))

    def save_worker(self, worker: WorkerRecord) -> None:
        self.db.execute(
            "INSERT INTO workers (worker_id, name, role, department, grids, all_grids) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(worker_id) DO UPDATE SET name = excluded.name, role = excluded.role, "
            "department = excluded.department, grids = excluded.grids, all_grids = excluded.all_grids",
            (worker.worker_id, worker.name, worker.role, worker.department, dump_json(list(worker.grids)),
             int(worker.all_grids)),
        )  # fmt: skip

    def add_enrollment_code(self, code: EnrollmentCode) -> None:
        self.db.execute(
            "INSERT INTO enrollment_codes (code_hash, worker_id, expires_at, used_at) VALUES (?, ?, ?, ?)",
            (code.code_hash, code.worker_id, code.expires_at, code.used_at),
        )

    def use_enrollment_code(self, code_hash: str, now: int) -> str | None:
        row = self.db.execute(
            "UPDATE enrollment_codes SET used_at = ? WHERE code_hash = ? AND used_at IS NULL AND expires_at > ? "
            "RETURNING worker_id",
            (now, code_hash, now),
        ).fetchone()
        return None if row is None else str(row[0])

    def add_device(self, device: DeviceRecord) -> None:
        self.db.execute(
            "INSERT INTO devices (device_id, worker_id, signing_key, encryption_key, name, enrolled_at, revoked_at, "
            "last_seq, last_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (device.device_id, device.worker_id, device.signing_key, device.encryption_key, device.name,
             device.enrolled_at, device.revoked_at, device.last_seq, device.last_hash),
        )  # fmt: skip

    def revoke_device(self, device_id: str, now: int) -> bool:
        cursor = self.db.execute(
            "UPDATE devices SET revoked_at = ? WHERE device_id = ? AND revoked_at IS NULL", (now, device_id)
        )
        return cursor.rowcount == 1

    # --- the city's catalogue and photos -----------------------------------------------------
    def catalogue_version(self) -> int:
        row = self.db.execute("SELECT value FROM counters WHERE name = 'catalogue_version'").fetchone()
        return 0 if row is None else int(row[0])

    def catalogue_doc(self, name: str) -> Any | None:
        row = self.db.execute("SELECT doc FROM catalogue_docs WHERE name = ?", (name,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put_catalogue_doc(self, name: str, doc: Any) -> None:
        self.db.execute(
            "INSERT INTO catalogue_docs (name, doc, updated) VALUES (?, ?, 1) ON CONFLICT(name) DO UPDATE SET "
            "doc = excluded.doc, updated = catalogue_docs.updated + 1",
            (name, dump_json(doc)),
        )
        self._bump("catalogue_version", 1)

    def save_photo(self, photo: PhotoRecord) -> None:
        self.db.execute(
            "INSERT INTO photos (sha256, size, received, complete, uploader) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(sha256) DO UPDATE SET size = excluded.size, received = excluded.received, "
            "complete = excluded.complete, uploader = COALESCE(photos.uploader, excluded.uploader)",
            (photo.sha256, photo.size, photo.received, int(photo.complete), photo.uploader),
        )

    def advance_photo(self, sha256: str, size: int, held: int, received: int, uploader: str) -> bool:
        if held == 0:
            cursor = self.db.execute(
                "INSERT INTO photos (sha256, size, received, complete, uploader) VALUES (?, ?, ?, 0, ?) "
                "ON CONFLICT(sha256) DO UPDATE SET received = excluded.received, "
                "uploader = COALESCE(photos.uploader, excluded.uploader) "
                "WHERE photos.received = 0 AND photos.complete = 0 AND photos.size = excluded.size",
                (sha256, size, received, uploader),
            )
        else:
            cursor = self.db.execute(
                "UPDATE photos SET received = ? WHERE sha256 = ? AND received = ? AND size = ? AND complete = 0",
                (received, sha256, held, size),
            )
        return cursor.rowcount == 1

    def photo_records(self, shas: Collection[str]) -> dict[str, PhotoRecord]:
        if not shas:
            return {}
        rows = self.db.execute(
            "SELECT sha256, size, received, complete, uploader FROM photos "
            "WHERE sha256 IN (SELECT value FROM json_each(?))",
            (dump_json(sorted(shas)),),
        ).fetchall()
        return {r[0]: PhotoRecord(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows}

    def photo_holders(self, shas: Collection[str]) -> dict[str, list[Case]]:
        if not shas:
            return {}
        rows = self.db.execute(
            "SELECT r.sha256, c.case_id, c.category, c.reporter, c.status, c.grid_code, c.department, c.handler "
            "FROM photo_refs r JOIN cases c ON c.case_id = r.case_id "
            "WHERE r.sha256 IN (SELECT value FROM json_each(?))",
            (dump_json(sorted(shas)),),
        ).fetchall()
        found: dict[str, list[Case]] = {}
        for r in rows:
            found.setdefault(r[0], []).append(
                Case(case_id=r[1], category=r[2], reporter=r[3], status=r[4], grid_code=r[5], department=r[6],
                     handler=r[7])
            )  # fmt: skip
        return found

    def delete_photo(self, sha256: str) -> None:
        self.db.execute("DELETE FROM photos WHERE sha256 = ?", (sha256,))

    def record_admin_action(self, entry: AdminAction) -> int:
        before, after = dump_json(entry.before), dump_json(entry.after)
        cursor = self.db.execute(
            "INSERT INTO admin_audit (at, os_user, action, target, before, after) VALUES (?, ?, ?, ?, ?, ?)",
            (entry.at, entry.os_user, entry.action, entry.target, before, after),
        )
        return int(cursor.lastrowid or 0)

    def record_resolution(self, case_id: str, conflict_id: str, choice: str, actor: str, at: int) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO conflict_resolutions (case_id, conflict_id, choice, actor, at) "
            "VALUES (?, ?, ?, ?, ?)",
            (case_id, conflict_id, choice, actor, at),
        )
