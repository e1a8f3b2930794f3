"""The offline hand-over file: this phone's unsettled segments and photo blobs in one file, for when
there is no network at all (copied over USB, a memory card, another phone's connection).

The format is `shared/handover.py` (the server's `ingest` reads it with the same code). Segments are
the exact stored bytes (the server answers a later POST of the same segment with `resent`), in
sequence order; photos are the sealed blobs, addressed by their SHA-256.
"""

from __future__ import annotations

import os
from pathlib import Path

from shared.handover import KIND_PHOTO, KIND_SEGMENT, HandoverEntry, encode_handover, read_handover


def write(path: Path, segments: list[bytes], photos: list[tuple[str, bytes]]) -> Path:
    """Write atomically: a temporary file, fsync, rename. A cut write never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = [HandoverEntry(KIND_SEGMENT, blob) for blob in segments]
    entries += [HandoverEntry(KIND_PHOTO, blob, sha256) for sha256, blob in photos]
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as file:
        for part in encode_handover(entries):
            file.write(part)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    return path


def read(data: bytes) -> tuple[list[bytes], list[tuple[str, bytes]]]:
    """Parse a hand-over file (for tests and tools): (segments, [(sha256, photo blob)])."""
    entries = read_handover(data)
    segments = [e.data for e in entries if e.kind == KIND_SEGMENT]
    photos = [(e.sha256 or "", e.data) for e in entries if e.kind == KIND_PHOTO]
    return segments, photos
