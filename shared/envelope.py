"""Versioned binary envelopes: the sealed segment (phone → server) and the sealed box (server → phone).

Both carry opaque bytes: this module knows nothing of ops. Each is a fixed big-endian header, the HPKE
`enc`, the ciphertext, and an Ed25519 signature over everything before it. The header's SHA-256 is
also part of the HPKE `info`, so a header can be neither edited nor moved onto another ciphertext.

Order of checks when opening, and why: structure and size first (cheap, before any crypto), then the
signature (who sent it, before anything is decrypted), then the named keys, then HPKE, then a capped
decompression. Every refusal is a GridsyncError with a segment.* code; nothing else escapes.
"""

from __future__ import annotations

import hashlib
import struct
import uuid
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from shared import crypto
from shared.errors import GridsyncError

FORMAT_VERSION = 1
GENESIS_HASH = bytes(32)
ZLIB_LEVEL = 6  # a segment, deflated on the phone
# A box, deflated on the server for every page every phone pulls: level 5 takes ~18-30 % less time
# than 6 over the changes feed's pages for ~1.6-2.2 % more bytes (level 3: -60 %, but +15-19 %).
BOX_ZLIB_LEVEL = 5
# deflate cannot refer back further than its window less this (zlib's MIN_LOOKAHEAD)
_LOOKAHEAD = 262
_SIG = crypto.SIGNATURE_LEN
_ENC = crypto.N_ENC


def deflate(data: bytes, level: int = ZLIB_LEVEL) -> bytes:
    """A zlib stream (RFC 1950) of `data` at `level`, its window no larger than `data` needs.

    zlib's defaults (a 32 KiB window, 64 Ki hash entries) cost ~50 µs to set up however small the
    input: more than compressing a small page or segment. A window that still covers every byte of
    `data` finds the same matches; from ~16 kB on, this is `zlib.compress(data, level)` byte
    for byte. Any inflater reads it (`_decompress` takes windows up to 32 KiB, as zlib does)."""
    wbits = min(15, max(9, (len(data) + _LOOKAHEAD - 1).bit_length()))
    compressor = zlib.compressobj(level, zlib.DEFLATED, wbits, min(8, wbits - 6))
    return compressor.compress(data) + compressor.flush()


# --- sealed segment -----------------------------------------------------------------------------

SEGMENT_MAGIC = b"GSEG"
SEGMENT_INFO = b"gridsync segment v1"
# magic, version, aead, device_id, device_key_id, server_key_id, first_seq, last_seq, prev_hash,
# op_count, created_at, plain_len, ct_len
_SEGMENT = struct.Struct(">4sBB16s8s8sQQ32sIqII")
MAX_SEQ = 2**62  # the largest sequence number (`shared.ops` bounds an op's `seq` the same)
SEGMENT_HEADER_LEN = _SEGMENT.size  # 106


@dataclass(frozen=True)
class Limits:
    max_segment_bytes: int = 8 * 1024 * 1024
    max_ops: int = 2000
    max_plain_bytes: int = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SegmentHeader:
    format_version: int
    aead_id: int
    device_id: str  # 32 lowercase hex digits (uuid.hex)
    device_key_id: bytes
    server_key_id: bytes
    first_seq: int
    last_seq: int
    prev_hash: bytes
    op_count: int
    created_at: int  # the device's clock: data, never used for ordering
    plain_len: int  # length of the compressed payload, before encryption
    ct_len: int

    def to_bytes(self) -> bytes:
        return _SEGMENT.pack(
            SEGMENT_MAGIC,
            self.format_version,
            self.aead_id,
            uuid.UUID(hex=self.device_id).bytes,
            self.device_key_id,
            self.server_key_id,
            self.first_seq,
            self.last_seq,
            self.prev_hash,
            self.op_count,
            self.created_at,
            self.plain_len,
            self.ct_len,
        )


def _segment_info(header_bytes: bytes) -> bytes:
    return SEGMENT_INFO + hashlib.sha256(header_bytes).digest()


def seal_segment(
    *,
    device_id: str,
    first_seq: int,
    last_seq: int,
    prev_hash: bytes,
    op_count: int,
    created_at: int,
    payload: bytes,
    device_key: Ed25519PrivateKey,
    server_public_raw: bytes,
    aead_id: int = crypto.AEAD_CHACHA20POLY1305,
) -> bytes:
    """Compress, encrypt to the server and sign. Inconsistent arguments are ValueError (a bug in the
    caller, not a refusal); no limit is applied here, that is the reader's job."""
    if len(prev_hash) != 32:
        raise ValueError("prev_hash must be 32 bytes")
    if not first_seq <= last_seq or last_seq - first_seq + 1 != op_count:
        raise ValueError("op_count must equal last_seq - first_seq + 1")
    if aead_id not in crypto.SUPPORTED_AEADS:
        raise ValueError(f"unsupported AEAD id {aead_id}")
    compressed = deflate(payload)
    header = SegmentHeader(
        format_version=FORMAT_VERSION,
        aead_id=aead_id,
        device_id=uuid.UUID(hex=device_id).hex,
        device_key_id=crypto.key_id(crypto.public_raw(device_key)),
        server_key_id=crypto.key_id(server_public_raw),
        first_seq=first_seq,
        last_seq=last_seq,
        prev_hash=prev_hash,
        op_count=op_count,
        created_at=created_at,
        plain_len=len(compressed),
        ct_len=len(compressed) + crypto.N_TAG,
    )
    try:
        header_bytes = header.to_bytes()
    except struct.error as exc:
        raise ValueError(f"segment header field out of range: {exc}") from exc
    sealed = crypto.hpke_seal(server_public_raw, compressed, _segment_info(header_bytes), aead_id=aead_id)
    signed = header_bytes + sealed
    return signed + crypto.sign(device_key, signed)


def read_header(blob: bytes, limits: Limits, *, size: int | None = None) -> SegmentHeader:
    """Structure only — no key, no signature: magic, version, sizes, sequence range, op count.

    `blob` may be just the segment's first `SEGMENT_HEADER_LEN` bytes when `size` gives the whole
    segment's length (a spool file's header, read without the rest of the file)."""
    size = len(blob) if size is None else size
    if size > limits.max_segment_bytes:
        raise GridsyncError("segment.too_large", f"{size} bytes")
    if size < SEGMENT_HEADER_LEN + _ENC + _SIG or len(blob) < SEGMENT_HEADER_LEN or blob[:4] != SEGMENT_MAGIC:
        raise GridsyncError("segment.malformed", "not a segment, or cut short")
    fields = _SEGMENT.unpack_from(blob)
    h = SegmentHeader(fields[1], fields[2], uuid.UUID(bytes=fields[3]).hex, *fields[4:])
    # The suite is part of the format: an AEAD we do not know is a version we do not speak.
    if h.format_version != FORMAT_VERSION or h.aead_id not in crypto.SUPPORTED_AEADS:
        raise GridsyncError("segment.bad_version", f"version {h.format_version}, aead {h.aead_id}")
    if SEGMENT_HEADER_LEN + _ENC + h.ct_len + _SIG != size or h.ct_len != h.plain_len + crypto.N_TAG:
        raise GridsyncError("segment.malformed", "lengths do not match the segment's size")
    if h.first_seq > h.last_seq or h.last_seq - h.first_seq + 1 != h.op_count:
        raise GridsyncError("segment.malformed", "sequence range does not match op_count")
    if h.first_seq < 1 or h.last_seq > MAX_SEQ:  # an op's own range: what every store holds
        raise GridsyncError("segment.malformed", f"sequence numbers run from 1 to {MAX_SEQ}")
    if h.op_count > limits.max_ops:
        raise GridsyncError("segment.too_many_ops", f"{h.op_count} ops")
    return h


def verify_segment(blob: bytes, device_public_raw: bytes, limits: Limits) -> SegmentHeader:
    """`read_header`, then the device's signature — before anything is decrypted."""
    header = read_header(blob, limits)
    if not crypto.verify(device_public_raw, blob[-_SIG:], blob[:-_SIG]):
        raise GridsyncError("segment.bad_signature")
    if header.device_key_id != crypto.key_id(device_public_raw):
        raise GridsyncError("segment.unknown_key", "signed by the device, but names another device key")
    return header


def open_segment(
    blob: bytes, *, device_public_raw: bytes, server_private: X25519PrivateKey, limits: Limits
) -> tuple[SegmentHeader, bytes]:
    """Verify, decrypt and decompress a segment: (header, payload)."""
    header = verify_segment(blob, device_public_raw, limits)
    if header.server_key_id != crypto.key_id(crypto.public_raw(server_private)):
        raise GridsyncError("segment.unknown_key", "sealed to another server key")
    info = _segment_info(blob[:SEGMENT_HEADER_LEN])
    compressed = crypto.hpke_open(
        server_private, blob[SEGMENT_HEADER_LEN:-_SIG], info, aead_id=header.aead_id
    )
    return header, _decompress(compressed, limits.max_plain_bytes)


def keyring(keys: Iterable[X25519PrivateKey]) -> dict[bytes, X25519PrivateKey]:
    """Server encryption keys by key id: the current one and those retired by rotation."""
    return {crypto.key_id(crypto.public_raw(k)): k for k in keys}


def open_segment_keyring(
    blob: bytes, *, device_public_raw: bytes, server_keys: Mapping[bytes, X25519PrivateKey], limits: Limits
) -> tuple[SegmentHeader, bytes]:
    """`open_segment` with the server key the header names (key rotation: phones still sealing to a
    retired key keep working). The signature is still checked before an unknown key is reported."""
    header = read_header(blob, limits)
    server_private = server_keys.get(header.server_key_id)
    if server_private is None:
        verify_segment(blob, device_public_raw, limits)
        raise GridsyncError("segment.unknown_key", "sealed to a server key this server does not hold")
    return open_segment(
        blob, device_public_raw=device_public_raw, server_private=server_private, limits=limits
    )


def segment_hash(blob: bytes) -> bytes:
    """SHA-256 of the whole segment: the next segment's prev_hash."""
    return hashlib.sha256(blob).digest()


def _decompress(data: bytes, max_plain_bytes: int) -> bytes:
    """Inflate at most max_plain_bytes; one byte more is a bomb. Never allocates beyond the cap."""
    inflater = zlib.decompressobj()
    try:
        plain = inflater.decompress(data, max_plain_bytes + 1)
    except zlib.error as exc:
        raise GridsyncError("segment.decompress_failed", str(exc)) from exc
    if len(plain) > max_plain_bytes:
        raise GridsyncError("segment.bomb", f"expands past {max_plain_bytes} bytes")
    if not inflater.eof or inflater.unused_data:
        raise GridsyncError("segment.decompress_failed", "truncated stream or trailing bytes")
    return plain


# --- sealed box ---------------------------------------------------------------------------------

BOX_MAGIC = b"GBOX"
BOX_INFO = b"gridsync box v1"
# magic, version, aead, signer_key_id, recipient_key_id, created_at, ct_len
_BOX = struct.Struct(">4sBB8s8sqI")
BOX_HEADER_LEN = _BOX.size  # 34


@dataclass(frozen=True, slots=True)
class BoxHeader:
    format_version: int
    aead_id: int
    signer_key_id: bytes
    recipient_key_id: bytes
    created_at: int  # the signer's clock
    ct_len: int


def _box_info(context: bytes, header_bytes: bytes) -> bytes:
    # The header hash has a fixed length at the end, so context needs no length prefix.
    return BOX_INFO + context + hashlib.sha256(header_bytes).digest()


def seal_box(
    plaintext: bytes,
    *,
    recipient_public_raw: bytes,
    signer: Ed25519PrivateKey,
    context: bytes,
    created_at: int,
    aead_id: int = crypto.AEAD_CHACHA20POLY1305,
) -> bytes:
    """Compress, encrypt to the recipient and sign. `context` names the purpose (e.g. b"changes"), so a
    box made for one purpose never opens as another."""
    if aead_id not in crypto.SUPPORTED_AEADS:
        raise ValueError(f"unsupported AEAD id {aead_id}")
    compressed = deflate(plaintext, BOX_ZLIB_LEVEL)
    try:
        header_bytes = _BOX.pack(
            BOX_MAGIC,
            FORMAT_VERSION,
            aead_id,
            crypto.key_id(crypto.public_raw(signer)),
            crypto.key_id(recipient_public_raw),
            created_at,
            len(compressed) + crypto.N_TAG,
        )
    except struct.error as exc:
        raise ValueError(f"box header field out of range: {exc}") from exc
    info = _box_info(context, header_bytes)
    signed = header_bytes + crypto.hpke_seal(recipient_public_raw, compressed, info, aead_id=aead_id)
    return signed + crypto.sign(signer, signed)


def read_box_header(blob: bytes) -> BoxHeader:
    """Structure only: magic, version, AEAD, lengths."""
    if len(blob) < BOX_HEADER_LEN + _ENC + _SIG or blob[:4] != BOX_MAGIC:
        raise GridsyncError("segment.malformed", "not a box, or cut short")
    _, version, aead_id, signer_key_id, recipient_key_id, created_at, ct_len = _BOX.unpack_from(blob)
    if version != FORMAT_VERSION or aead_id not in crypto.SUPPORTED_AEADS:
        raise GridsyncError("segment.bad_version", f"version {version}, aead {aead_id}")
    if BOX_HEADER_LEN + _ENC + ct_len + _SIG != len(blob) or ct_len < crypto.N_TAG:
        raise GridsyncError("segment.malformed", "lengths do not match the box's size")
    return BoxHeader(version, aead_id, signer_key_id, recipient_key_id, created_at, ct_len)


def open_box(
    blob: bytes,
    *,
    recipient_private: X25519PrivateKey,
    signer_public_raw: bytes,
    context: bytes,
    max_plain_bytes: int,
) -> bytes:
    """Verify, decrypt and decompress a box (same checks, same order, same codes as a segment)."""
    header = read_box_header(blob)
    if not crypto.verify(signer_public_raw, blob[-_SIG:], blob[:-_SIG]):
        raise GridsyncError("segment.bad_signature")
    if header.signer_key_id != crypto.key_id(signer_public_raw):
        raise GridsyncError("segment.unknown_key", "signed by the signer, but names another key")
    if header.recipient_key_id != crypto.key_id(crypto.public_raw(recipient_private)):
        raise GridsyncError("segment.unknown_key", "sealed to another recipient key")
    info = _box_info(context, blob[:BOX_HEADER_LEN])
    compressed = crypto.hpke_open(recipient_private, blob[BOX_HEADER_LEN:-_SIG], info, aead_id=header.aead_id)
    return _decompress(compressed, max_plain_bytes)
