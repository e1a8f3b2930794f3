"""The offline hand-over file: this phone's unsettled segments and photo blobs in one file, for when
there is no network at all (copied over USB, a memory card, another phone's connection).

Format (big-endian), read by the server's `ingest`:

    magic b"GSHO" | u8 version (1) | u32 entry count
    entries: u8 type (1 = segment, 2 = photo)
             [photo only: 32 bytes sha256 of the blob]
             u32 length | bytes

Segments are the exact stored bytes (the server answers a later POST of the same segment with
`resent`), in sequence order; photos are the sealed blobs, addressed by their SHA-256.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path

MAGIC = b"GSHO"
VERSION = 1
SEGMENT = 1
PHOTO = 2
_HEAD = struct.Struct(">4sBI")
_LEN = struct.Struct(">I")


def encode(segments: list[bytes], photos: list[tuple[str, bytes]]) -> Iterator[bytes]:
    yield _HEAD.pack(MAGIC, VERSION, len(segments) + len(photos))
    for blob in segments:
        yield bytes([SEGMENT]) + _LEN.pack(len(blob))
        yield blob
    for sha256, blob in photos:
        yield bytes([PHOTO]) + bytes.fromhex(sha256) + _LEN.pack(len(blob))
        yield blob


def write(path: Path, segments: list[bytes], photos: list[tuple[str, bytes]]) -> Path:
    """Write atomically: a temporary file, fsync, rename. A cut write never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as file:
        for part in encode(segments, photos):
            file.write(part)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    return path


def read(data: bytes) -> tuple[list[bytes], list[tuple[str, bytes]]]:
    """Parse a hand-over file (for tests and tools). ValueError when it is not one."""
    if len(data) < _HEAD.size:
        raise ValueError("not a hand-over file")
    magic, version, count = _HEAD.unpack_from(data)
    if magic != MAGIC or version != VERSION:
        raise ValueError("not a hand-over file of version 1")
    at = _HEAD.size
    segments: list[bytes] = []
    photos: list[tuple[str, bytes]] = []
    for _ in range(count):
        kind = data[at]
        at += 1
        sha = ""
        if kind == PHOTO:
            sha = data[at : at + 32].hex()
            at += 32
        elif kind != SEGMENT:
            raise ValueError(f"unknown entry type {kind}")
        (length,) = _LEN.unpack_from(data, at)
        at += _LEN.size
        blob = data[at : at + length]
        if len(blob) != length:
            raise ValueError("hand-over file cut short")
        at += length
        if kind == SEGMENT:
            segments.append(blob)
        else:
            photos.append((sha, blob))
    if at != len(data):
        raise ValueError("trailing bytes after the last entry")
    return segments, photos
