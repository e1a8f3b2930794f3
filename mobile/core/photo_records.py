"""The photos table: every sealed photo blob this phone made or downloaded, and its upload progress.

A photo taken here is sealed with its own key (`shared.crypto.seal_photo`) and kept as that sealed
blob, named by the blob's SHA-256 — the same bytes are uploaded, so a resumed upload always continues
the same file. `uploaded` is the offset the server last confirmed; `complete` is set once the server
holds the whole blob.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from mobile.core.store import Store


@dataclass(frozen=True, slots=True)
class PhotoRecord:
    sha256: str
    photo_id: str
    case_id: str
    stage: str
    blob_path: str | None
    thumb_path: str | None
    key: str
    size: int
    uploaded: int
    complete: bool
    origin: str
    error: str | None


def _record(row: sqlite3.Row) -> PhotoRecord:
    return PhotoRecord(
        row["sha256"],
        row["photo_id"],
        row["case_id"],
        row["stage"],
        row["blob_path"],
        row["thumb_path"],
        row["key"],
        int(row["size"]),
        int(row["uploaded"]),
        bool(row["complete"]),
        row["origin"],
        row["error"],
    )


def add(conn: sqlite3.Connection, record: PhotoRecord) -> None:
    conn.execute(
        "INSERT INTO photos VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (sha256) DO UPDATE SET "
        "blob_path = COALESCE(excluded.blob_path, photos.blob_path), "
        "thumb_path = COALESCE(excluded.thumb_path, photos.thumb_path)",
        (
            record.sha256,
            record.photo_id,
            record.case_id,
            record.stage,
            record.blob_path,
            record.thumb_path,
            record.key,
            record.size,
            record.uploaded,
            int(record.complete),
            record.origin,
            record.error,
        ),
    )


def get(store: Store, sha256: str) -> PhotoRecord | None:
    row = store.one("SELECT * FROM photos WHERE sha256 = ?", (sha256,))
    return None if row is None else _record(row)


def to_upload(store: Store) -> list[PhotoRecord]:
    rows = store.all("SELECT * FROM photos WHERE origin = 'local' AND complete = 0 ORDER BY rowid")
    return [_record(r) for r in rows]


def set_progress(store: Store, sha256: str, uploaded: int, complete: bool, error: str | None = None) -> None:
    with store.transaction() as conn:
        conn.execute(
            "UPDATE photos SET uploaded = ?, complete = ?, error = ? WHERE sha256 = ?",
            (uploaded, int(complete), error, sha256),
        )


def pending_upload(store: Store) -> tuple[int, int]:
    """(photos, bytes) still to upload."""
    row = store.one(
        "SELECT COUNT(*), COALESCE(SUM(size - uploaded), 0) FROM photos WHERE origin = 'local' AND complete = 0"
    )
    return (0, 0) if row is None else (int(row[0]), int(row[1]))
