"""Photo blobs: resumable, content-addressed uploads and permission-checked downloads.

A blob is addressed by the sha256 of the sealed bytes the phone uploads (the server never sees a
photo's key outside sealed envelopes, and never opens a blob). Chunks append at the offset the
server holds; the chunk is written at its offset before the store moves the offset, by
compare-and-set in a transaction (`Transaction.advance_photo`), so a crash between the two only
costs the phone a re-sent chunk, and of two chunks sent at once at the same offset (a retry racing
its original, through two server processes) exactly one moves it; the other answers
`photo.bad_offset` with where the upload stands. No lock of this process is what keeps that true.
Racing chunks of one blob at one offset carry the same bytes (it is one blob): the loser only
wrote again what the winner wrote; anything else shows as a hash mismatch when the blob is whole.
Only the upload that moved the offset to the blob's size finishes it (checks the hash, renames it);
one cut short there is finished by the next status or chunk request.

A blob belongs to the device whose upload began it (recorded with it) and to the cases whose ops
named it first-hand (`sync_server.casework` refuses a photo op naming a foreign blob). Only that
device reads the upload's status or adds to it (`photo.foreign` for any other); a download needs a
case holding the blob that the person may see, and a blob someone may not see answers exactly like
one that does not exist (`photo.unknown`).
"""

from __future__ import annotations

import errno
import hashlib
import re
from pathlib import Path
from typing import Any

from shared.errors import GridsyncError
from shared.model import Actor
from shared.rules import can_see
from sync_server.blobs import BlobStore, DirectoryBlobs
from sync_server.store.base import PhotoRecord, Store

SHA256 = re.compile(r"[0-9a-f]{64}")


def _checked(sha256: str) -> str:
    if not SHA256.fullmatch(sha256):
        raise GridsyncError("request.malformed", "a photo is addressed by 64 lower-case hex digits")
    return sha256


def _status(record: PhotoRecord | None) -> dict[str, Any]:
    if record is None:
        return {"received": 0, "size": None, "complete": False}
    return {"received": record.received, "size": record.size, "complete": record.complete}


class PhotoShelf:
    """Uploads and downloads of blobs kept in a `BlobStore` (`sync_server.blobs`): a folder given
    as a path is a `DirectoryBlobs` (`<data>/photos/ab/abcdef…`, `.part` while uploading)."""

    def __init__(self, store: Store, blobs: BlobStore | Path, max_bytes: int) -> None:
        self.store = store
        self.blobs: BlobStore = DirectoryBlobs(blobs) if isinstance(blobs, Path) else blobs
        self.max_bytes = max_bytes

    def status(self, sha256: str, device_id: str) -> dict[str, Any]:
        """How much of the blob this device has uploaded; `photo.foreign` for another device's."""
        record = _own(self.store.photo(_checked(sha256)), device_id)
        if record is not None and not record.complete and record.received == record.size:
            return self._finish(sha256, record.size, device_id)  # a finish cut short: finish it now
        return _status(record)

    def put_chunk(self, sha256: str, offset: int, size: int, chunk: bytes, device_id: str) -> dict[str, Any]:
        _checked(sha256)
        if not 0 < size <= self.max_bytes:
            raise GridsyncError("photo.too_large", f"size must be 1..{self.max_bytes}")
        record = _own(self.store.photo(sha256), device_id)
        if record is not None and record.complete:
            return _status(record)  # already here: dedup
        held = 0 if record is None else record.received
        if record is not None and record.size != size:
            raise GridsyncError("photo.hash_mismatch", f"size was {record.size} when the upload began")
        if offset != held:
            raise GridsyncError("photo.bad_offset", str(held))
        if offset + len(chunk) > size:
            raise GridsyncError("photo.too_large", "the chunk goes past the announced size")
        if record is not None and held == size:
            return self._finish(sha256, size, device_id)  # a finish cut short: finish it now
        received = self._write(sha256, offset, chunk)
        with self.store.transaction() as tx:
            moved = tx.advance_photo(sha256, size, held, received, device_id)
        if not moved:  # another request moved it first (or finished it): say where it stands
            now = _own(self.store.photo(sha256), device_id)
            if now is not None and now.complete:
                return _status(now)
            raise GridsyncError("photo.bad_offset", str(0 if now is None else now.received))
        if received < size:
            return _status(PhotoRecord(sha256, size, received, False))
        return self._finish(sha256, size, device_id)

    def _write(self, sha256: str, offset: int, chunk: bytes) -> int:
        try:
            self.blobs.write(sha256, offset, chunk)
        except OSError as exc:  # the partial is cut back to `offset` (or dropped) already
            raise disk_refusal(exc) from exc
        return offset + len(chunk)

    def _finish(self, sha256: str, size: int, device_id: str | None) -> dict[str, Any]:
        digest = self.blobs.partial_sha256(sha256)
        if digest is None:
            digest = self.blobs.whole_sha256(sha256)  # another request finished it meanwhile
            if digest is None:  # neither partial nor whole: nothing to finish, start again
                with self.store.transaction() as tx:
                    tx.delete_photo(sha256)
                raise GridsyncError("photo.bad_offset", "0")
        if digest != sha256:
            self.blobs.drop_partial(sha256)
            with self.store.transaction() as tx:
                tx.delete_photo(sha256)
            raise GridsyncError("photo.hash_mismatch", "the partial upload was dropped; start again at 0")
        try:
            self.blobs.finish(sha256)
        except OSError as exc:
            raise disk_refusal(exc) from exc
        record = PhotoRecord(sha256, size, size, True, device_id)
        self._record(record)
        return _status(record)

    def _record(self, record: PhotoRecord) -> None:
        with self.store.transaction() as tx:
            tx.save_photo(record)

    def store_whole(self, sha256: str, blob: bytes) -> bool:
        """A blob that arrived in one piece (the ingest's hand-over file), with no uploader recorded.
        False if the hash differs."""
        found = self.store.photo(_checked(sha256))
        if found is not None and found.complete:
            return True
        if hashlib.sha256(blob).hexdigest() != sha256:
            return False
        self._write(sha256, 0, blob)  # the right bytes: the same any upload of this blob writes
        self._finish(sha256, len(blob), None)
        return True

    def read(self, sha256: str, actor: Actor) -> bytes:
        """The blob, for a person who may see a case holding it. Not complete, held by no case they
        may see, or never heard of: the same `photo.unknown`, so nothing tells the three apart."""
        record = self.store.photo(_checked(sha256))
        if record is None or not record.complete:
            raise GridsyncError("photo.unknown")
        if not any(can_see(case, actor) for case in self.store.cases_holding_photo(sha256)):
            raise GridsyncError("photo.unknown")
        return self.blobs.read(sha256)


def _own(record: PhotoRecord | None, device_id: str) -> PhotoRecord | None:
    """The record if this device may read and extend it: its own upload, or one with no uploader."""
    if record is not None and record.uploader is not None and record.uploader != device_id:
        raise GridsyncError("photo.foreign", "another device's upload")
    return record


def disk_refusal(exc: OSError) -> GridsyncError:
    """The photo folder cannot take the bytes: full (507) or read-only / failing (503)."""
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return GridsyncError("server.storage_full" if full else "server.unavailable", str(exc))
