"""The hand-over file (`*.gsho`): a phone's sealed segments and photo blobs in one container, carried
to the server on a USB stick or a shared folder when there is no network, and ingested like a spool.

Bytes in, bytes out; no I/O. Format version 1, all integers big-endian:

    magic   4 bytes  b"GSHO"
    version u8       1
    count   u32      number of entries
    entry × count:
        kind    u8       1 = segment, 2 = photo
        sha256  32 bytes only for a photo: the sha256 of its sealed blob (its content address)
        length  u32      byte length of the data
        data    length bytes: a sealed segment, or a sealed photo blob

The container only carries bytes: each segment is checked by the envelope rules when it is applied,
each photo against its address when it is stored. Reading refuses the file as a whole, never half:
damaged structure (cut short, unknown kind, trailing bytes) is `segment.malformed`, another version
`segment.bad_version`, and more entries or bigger entries than the limits `segment.too_large`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from shared.errors import GridsyncError

MAGIC = b"GSHO"
VERSION = 1
KIND_SEGMENT = 1
KIND_PHOTO = 2
MAX_ENTRIES = 100_000
MAX_SEGMENT_BYTES = 8 * 1024 * 1024
MAX_PHOTO_BYTES = 20 * 1024 * 1024 + 1024
_HEAD = struct.Struct(">4sBI")
_LEN = struct.Struct(">I")
_SHA_LEN = 32


@dataclass(frozen=True, slots=True)
class HandoverEntry:
    kind: int
    data: bytes
    sha256: str | None = None  # photos only: 64 lowercase hex digits


@dataclass(frozen=True, slots=True)
class HandoverLimits:
    max_entries: int = MAX_ENTRIES
    max_segment_bytes: int = MAX_SEGMENT_BYTES
    max_photo_bytes: int = MAX_PHOTO_BYTES

    def max_bytes(self, kind: int) -> int:
        return self.max_segment_bytes if kind == KIND_SEGMENT else self.max_photo_bytes


def encode_handover(entries: Sequence[HandoverEntry]) -> Iterator[bytes]:
    """The container for these entries, piece by piece (a phone streams it to a file). An entry that
    cannot be written is ValueError (a bug in the caller, not a refusal); no limit is applied here,
    that is the reader's job."""
    yield _HEAD.pack(MAGIC, VERSION, len(entries))
    for entry in entries:
        if entry.kind == KIND_PHOTO:
            if entry.sha256 is None or len(entry.sha256) != 2 * _SHA_LEN:
                raise ValueError("a photo entry needs its sha256 (64 hex digits)")
            yield bytes([entry.kind]) + bytes.fromhex(entry.sha256)
        elif entry.kind == KIND_SEGMENT:
            yield bytes([entry.kind])
        else:
            raise ValueError(f"unknown hand-over entry kind {entry.kind}")
        if len(entry.data) >= 1 << 32:
            raise ValueError("a hand-over entry holds less than 4 GiB")
        yield _LEN.pack(len(entry.data))
        yield entry.data


def write_handover(entries: Sequence[HandoverEntry]) -> bytes:
    return b"".join(encode_handover(entries))


def read_handover(blob: bytes, limits: HandoverLimits | None = None) -> list[HandoverEntry]:
    """Every entry of a hand-over file, or GridsyncError(segment.*) for the file as a whole."""
    limits = limits or HandoverLimits()
    if len(blob) < _HEAD.size:
        raise GridsyncError("segment.malformed", "hand-over file cut short")
    magic, version, count = _HEAD.unpack_from(blob)
    if magic != MAGIC:
        raise GridsyncError("segment.malformed", "not a hand-over file")
    if version != VERSION:
        raise GridsyncError("segment.bad_version", f"hand-over version {version}")
    if count > limits.max_entries:
        raise GridsyncError("segment.too_large", f"{count} entries, at most {limits.max_entries}")
    entries: list[HandoverEntry] = []
    at = _HEAD.size
    for _ in range(count):
        if at >= len(blob) or blob[at] not in (KIND_SEGMENT, KIND_PHOTO):
            raise GridsyncError("segment.malformed", f"no entry, or an unknown kind, at byte {at}")
        kind = blob[at]
        at += 1
        sha = None
        if kind == KIND_PHOTO:
            if at + _SHA_LEN > len(blob):
                raise GridsyncError("segment.malformed", "hand-over file cut short")
            sha = blob[at : at + _SHA_LEN].hex()
            at += _SHA_LEN
        if at + _LEN.size > len(blob):
            raise GridsyncError("segment.malformed", "hand-over file cut short")
        (length,) = _LEN.unpack_from(blob, at)
        at += _LEN.size
        if at + length > len(blob):
            raise GridsyncError("segment.malformed", f"entry at byte {at} runs past the end")
        if length > limits.max_bytes(kind):
            raise GridsyncError("segment.too_large", f"entry at byte {at}: {length} bytes")
        entries.append(HandoverEntry(kind, blob[at : at + length], sha))
        at += length
    if at != len(blob):
        raise GridsyncError("segment.malformed", "trailing bytes after the last entry")
    return entries
