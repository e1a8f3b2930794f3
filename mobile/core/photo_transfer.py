"""Moving sealed photo blobs: resumable upload of this phone's photos, download of others'.

Upload asks the server how much it already holds and continues from there in chunks of at most
`CHUNK` bytes, recording the confirmed offset after every chunk: a cut connection or a killed app
never re-sends what arrived. A photo that fails is recorded and skipped; it never blocks the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mobile.core import casebook, photo_records
from mobile.core.photo_records import PhotoRecord
from mobile.core.photos import PhotoStore, prepare_photo
from mobile.core.server_api import ServerApi
from mobile.core.store import Store
from shared import crypto
from shared.errors import GridsyncError

CHUNK = 256 * 1024
MAX_OFFSET_RETRIES = 3


async def upload(
    api: ServerApi,
    store: Store,
    photo_store: PhotoStore,
    record: PhotoRecord,
    on_bytes: Callable[[int], None],
) -> int:
    """Upload one photo from where the server stands. Returns the bytes sent. Raises NetworkError
    (give up the round) or GridsyncError (this photo failed; recorded)."""
    if record.blob_path is None:
        raise GridsyncError("photo.unknown", "the photo file is missing on this phone")
    status = await api.photo_status(record.sha256)
    if status.get("complete"):
        photo_records.set_progress(store, record.sha256, record.size, True)
        return 0
    offset = int(status.get("received") or 0)
    blob = (photo_store.root / record.blob_path).read_bytes()
    sent, retries = 0, 0
    while offset < len(blob):
        chunk = blob[offset : offset + CHUNK]
        try:
            answer = await api.put_photo(record.sha256, offset, len(blob), chunk)
        except GridsyncError as error:
            if error.code == "photo.bad_offset" and retries < MAX_OFFSET_RETRIES:
                retries += 1
                offset = int((await api.photo_status(record.sha256)).get("received") or 0)
                continue
            photo_records.set_progress(store, record.sha256, offset, False, error.code)
            raise
        sent += len(chunk)
        on_bytes(len(chunk))
        offset = int(answer.get("received", offset + len(chunk)))
        complete = bool(answer.get("complete"))
        photo_records.set_progress(store, record.sha256, offset, complete)
        if complete:
            return sent
    photo_records.set_progress(store, record.sha256, offset, offset >= len(blob))
    return sent


def find_photo(store: Store, sha256: str) -> tuple[str, str, str, str] | None:
    """(case_id, photo_id, stage, key) of a photo named in a case this phone can see."""
    for case_id, doc in casebook.local_docs_containing(store, sha256):
        for photo in doc.get("photos", []):
            if photo.get("sha256") == sha256:
                return case_id, photo["photo_id"], photo["stage"], photo["key"]
    return None


async def download(api: ServerApi, store: Store, photo_store: PhotoStore, sha256: str) -> bool:
    """Fetch a photo of a visible case, check it, keep it (with a thumbnail). False when unknown here
    or not yet on the server (`photo.unknown`)."""
    found = find_photo(store, sha256)
    if found is None:
        return False
    case_id, photo_id, stage, key_text = found
    try:
        blob = await api.get_photo(sha256)
    except GridsyncError as error:
        if error.code in ("photo.unknown", "request.not_found", "request.forbidden", "case.not_allowed"):
            return False
        raise
    if crypto.sha256_hex(blob) != sha256:
        raise GridsyncError("photo.hash_mismatch", sha256)
    key = crypto.b64d(key_text)
    plain = crypto.open_photo(key, blob)
    blob_path = photo_store.put_blob(sha256, blob)
    thumb_rel = None
    try:
        thumb = crypto.seal_photo(key, prepare_photo(plain).thumb)
        thumb_rel = str(
            Path(photo_store.put_blob(crypto.sha256_hex(thumb), thumb)).relative_to(photo_store.root)
        )
    except GridsyncError:
        pass  # the full photo still shows; only the small version is missing
    with store.transaction() as conn:
        photo_records.add(
            conn,
            PhotoRecord(
                sha256,
                photo_id,
                case_id,
                stage,
                str(Path(blob_path).relative_to(photo_store.root)),
                thumb_rel,
                key_text,
                len(blob),
                len(blob),
                True,
                "server",
                None,
            ),
        )
    return True


def read_photo(store: Store, photo_store: PhotoStore, sha256: str, *, thumb: bool) -> bytes | None:
    record = photo_records.get(store, sha256)
    if record is None:
        return None
    path = record.thumb_path if thumb and record.thumb_path else record.blob_path
    if path is None:
        return None
    try:
        blob = (photo_store.root / path).read_bytes()
    except FileNotFoundError:
        return None
    return crypto.open_photo(crypto.b64d(record.key), blob)


def missing_photos(store: Store, limit: int) -> list[str]:
    """Photos of visible open cases that this phone does not hold yet, newest cases first."""
    have = {r[0] for r in store.all("SELECT sha256 FROM photos")}
    wanted: list[str] = []
    for doc in casebook.open_local_docs(store, 200):
        for photo in doc.get("photos", []):
            sha = photo.get("sha256")
            if sha and sha not in have and sha not in wanted:
                wanted.append(sha)
                if len(wanted) >= limit:
                    return wanted
    return wanted
