"""What a person does to cases on the phone, each action one op (or a few) in ONE transaction.

Every action is first run through the same rules the server applies (`shared.rules.apply_op`) on the
local view: a move the server would refuse raises the server's code here and writes nothing. Photos
are prepared and their sealed files written *before* the transaction (a file without a row is a
harmless orphan; a row without its file cannot happen).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mobile.core import casebook, outbox, photo_records
from mobile.core.identity import Identity
from mobile.core.location import Fix
from mobile.core.photo_records import PhotoRecord
from mobile.core.photos import PhotoStore, prepare_photo
from mobile.core.store import Store
from shared import crypto
from shared.errors import GridsyncError
from shared.model import STAGES, Case
from shared.ops import Op, validate_op
from shared.rules import REJECTED, RuleContext, apply_op


@dataclass(frozen=True, slots=True)
class SealedPhoto:
    """A photo made ready and sealed, its files already on disk."""

    photo_id: str
    sha256: str
    size: int
    stage: str
    key: str
    blob_path: str
    thumb_path: str

    def payload(self) -> dict[str, Any]:
        return {
            "photo_id": self.photo_id,
            "sha256": self.sha256,
            "size": self.size,
            "stage": self.stage,
            "key": self.key,
        }


def new_id() -> str:
    return uuid.uuid4().hex


def location_dict(location: Fix | dict[str, Any]) -> dict[str, Any]:
    if isinstance(location, dict):
        return dict(location)
    return {
        "lat": location.lat,
        "lon": location.lon,
        "accuracy_m": location.accuracy_m,
        "source": location.source,
    }


class Casework:
    def __init__(
        self,
        store: Store,
        identity: Identity,
        photo_store: PhotoStore,
        context: Callable[[], RuleContext],
        clock: Callable[[], int],
        on_write: Callable[[], None],
    ) -> None:
        self.store = store
        self.identity = identity
        self.photo_store = photo_store
        self.context = context
        self.clock = clock
        self.on_write = on_write

    # --- photos ----------------------------------------------------------------------------------

    def seal_photo(self, image: bytes, stage: str) -> SealedPhoto:
        """Prepare (orient, shrink, strip), seal with a fresh key, and write the blob and thumbnail."""
        if stage not in STAGES:
            raise GridsyncError("op.bad_field", "stage must be before, after or verification")
        prepared = prepare_photo(image)
        key = crypto.new_photo_key()
        blob = crypto.seal_photo(key, prepared.jpeg)
        thumb = crypto.seal_photo(key, prepared.thumb)
        sha256, thumb_sha = crypto.sha256_hex(blob), crypto.sha256_hex(thumb)
        blob_path = self.photo_store.put_blob(sha256, blob)
        thumb_path = self.photo_store.put_blob(thumb_sha, thumb)
        root = self.photo_store.root
        return SealedPhoto(
            new_id(),
            sha256,
            len(blob),
            stage,
            crypto.b64e(key),
            str(Path(blob_path).relative_to(root)),
            str(Path(thumb_path).relative_to(root)),
        )

    # --- the one write path --------------------------------------------------------------------

    def record(
        self,
        case_id: str,
        steps: Sequence[tuple[str, dict[str, Any]]],
        photos: Sequence[SealedPhoto] = (),
        category_used: str | None = None,
    ) -> Case:
        """Turn (kind, payload) steps into ops on one case, check them against the local view, and
        write them with the new view in one transaction. Raises the server's code on refusal."""
        me = self.identity
        actor = me.actor()
        ctx = self.context()
        now = self.clock()
        with self.store.transaction() as conn:
            case = casebook.local_case(conn, case_id)
            base = casebook.server_version(conn, case_id)
            seq = outbox.next_seq(conn)
            ops: list[Op] = []
            for kind, payload in steps:
                raw = {
                    "op_id": new_id(),
                    "device_id": me.device_id,
                    "actor": me.worker_id,
                    "seq": seq,
                    "case_id": case_id,
                    "base_version": base,
                    "captured_at": now,
                    "kind": kind,
                    "payload": payload,
                }
                op = validate_op(raw)
                outcome, new = apply_op(case, op, actor, ctx)
                if outcome.outcome == REJECTED:
                    raise GridsyncError(outcome.code or "case.not_allowed", outcome.detail)
                if new is not None:
                    case = new
                ops.append(op)
                seq += 1
            if case is None:  # cannot happen: a create always yields a case
                raise GridsyncError("case.unknown", case_id)
            outbox.append(conn, ops, now)
            casebook.put_local_case(conn, case)
            for photo in photos:
                photo_records.add(
                    conn,
                    PhotoRecord(
                        photo.sha256,
                        photo.photo_id,
                        case_id,
                        photo.stage,
                        photo.blob_path,
                        photo.thumb_path,
                        photo.key,
                        photo.size,
                        0,
                        False,
                        "local",
                        None,
                    ),
                )
            if category_used:
                self.store.touch_category(conn, category_used, now)
        self.on_write()
        return case

    # --- actions -------------------------------------------------------------------------------

    def report(
        self,
        *,
        category: str,
        location: Fix | dict[str, Any],
        description: str,
        address: str,
        photos: Sequence[tuple[bytes, str]],
        on_spot: bool,
    ) -> str:
        """A new case and its photos. It names no grid: the rules derive the grid from the location
        (here, to refuse a place outside the worker's grids before anything is written; and again on
        the server, which decides)."""
        sealed = [self.seal_photo(image, stage) for image, stage in photos]
        case_id = new_id()
        create = {
            "category": category,
            "description": description,
            "address": address,
            "location": location_dict(location),
            "on_spot": on_spot,
        }
        steps = [("create", create)] + [("photo", p.payload()) for p in sealed]
        self.record(case_id, steps, sealed, category_used=category)
        return case_id

    def add_photo(self, case_id: str, image: bytes, stage: str) -> None:
        self._known(case_id)
        photo = self.seal_photo(image, stage)
        self.record(case_id, [("photo", photo.payload())], [photo])

    def add_note(self, case_id: str, text: str) -> None:
        self._known(case_id)
        self.record(case_id, [("note", {"note_id": new_id(), "text": text})])

    def transition(self, case_id: str, action: str, payload: dict[str, Any]) -> None:
        self._known(case_id)
        self.record(case_id, [("transition", {"action": action, **payload})])

    def edit(self, case_id: str, fields: dict[str, Any]) -> None:
        self._known(case_id)
        if "location" in fields:
            fields = {**fields, "location": location_dict(fields["location"])}
        self.record(case_id, [("edit", {"fields": fields})], category_used=fields.get("category"))

    def resolve_conflict(self, case_id: str, conflict_id: str, choice: str) -> None:
        self._known(case_id)
        self.record(case_id, [("resolve_conflict", {"conflict_id": conflict_id, "choice": choice})])

    def link_duplicate(self, case_id: str, duplicate_of: str, reason: str) -> None:
        self._known(case_id)
        self.record(case_id, [("link_duplicate", {"duplicate_of": duplicate_of, "reason": reason})])

    def _known(self, case_id: str) -> None:
        with self.store.read() as conn:
            if casebook.local_case(conn, case_id) is None:
                raise GridsyncError("case.unknown", case_id)
