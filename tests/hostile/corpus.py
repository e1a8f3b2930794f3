"""A corpus of hostile segments, each with the refusal code the server must answer.

Built with the real format of `shared/envelope.py`: `craft` lays out a header the caller controls,
seals the payload with HPKE exactly as `seal_segment` does, and signs with whatever key it is given,
so each entry is wrong in exactly one way. Entries are deterministic for a seed.
"""

from __future__ import annotations

import hashlib
import json
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench import fleet
from shared import crypto
from shared.envelope import GENESIS_HASH, SEGMENT_HEADER_LEN, SEGMENT_INFO, SegmentHeader

SIG = crypto.SIGNATURE_LEN


@dataclass(frozen=True)
class Hostile:
    name: str
    blob: bytes
    codes: frozenset[str]  # acceptable refusal codes (one, except for random byte flips)


def header_for(writer: fleet.Writer, ops: list[dict[str, Any]], **changes: Any) -> SegmentHeader:
    m = writer.member
    base = SegmentHeader(
        format_version=1,
        aead_id=crypto.AEAD_CHACHA20POLY1305,
        device_id=m.device_id,
        device_key_id=crypto.key_id(crypto.public_raw(m.signing)),
        server_key_id=crypto.key_id(writer.server_public),
        first_seq=ops[0]["seq"] if ops else 1,
        last_seq=ops[-1]["seq"] if ops else 1,
        prev_hash=writer.last_hash,
        op_count=len(ops) or 1,
        created_at=fleet.NOW,
        plain_len=0,
        ct_len=0,
    )
    return replace(base, **changes)


def craft(
    header: SegmentHeader,
    compressed: bytes,
    *,
    signer: Ed25519PrivateKey,
    seal_to: bytes,
    fix_lengths: bool = True,
) -> bytes:
    """Seal `compressed` to `seal_to` under `header` (lengths filled in) and sign with `signer`."""
    if fix_lengths:
        header = replace(header, plain_len=len(compressed), ct_len=len(compressed) + crypto.N_TAG)
    header_bytes = header.to_bytes()
    info = SEGMENT_INFO + hashlib.sha256(header_bytes).digest()
    signed = header_bytes + crypto.hpke_seal(seal_to, compressed, info, aead_id=header.aead_id)
    return signed + crypto.sign(signer, signed)


def ops_json(ops: list[Any]) -> bytes:
    return json.dumps(ops, ensure_ascii=False, separators=(",", ":")).encode()


def resign(blob: bytes, signer: Ed25519PrivateKey) -> bytes:
    return blob[:-SIG] + crypto.sign(signer, blob[:-SIG])


def _with_op(writer: fleet.Writer, change: Callable[[dict[str, Any]], Any], count: int = 3) -> bytes:
    """A segment of `count` valid next ops, the last one changed by `change` (in place)."""
    ops = writer.branch().ops(count)  # never applied: the device's own chain does not move
    header = header_for(writer, ops)
    change(ops[-1])
    return craft(
        header, zlib.compress(ops_json(ops)), signer=writer.member.signing, seal_to=writer.server_public
    )


def corpus(writer: fleet.Writer, *, stranger: fleet.Member, seed: int = 0, flips: int = 24) -> list[Hostile]:
    """Hostile segments for the device behind `writer` (its next segment in sequence, each spoiled).

    `stranger` is another enrolled device, for segments carrying its ops or its signature.
    """
    rng = random.Random(seed)
    m, pub = writer.member, writer.server_public
    seq = writer.next_seq
    good_ops = writer.branch().ops(5)
    good = craft(
        header_for(writer, good_ops), zlib.compress(ops_json(good_ops)), signer=m.signing, seal_to=pub
    )
    other_server = crypto.public_raw(crypto.new_encryption_key())
    out: list[Hostile] = []

    def add(name: str, blob: bytes, *codes: str) -> None:
        out.append(Hostile(name, blob, frozenset(codes)))

    # --- structure ---------------------------------------------------------------------------------
    add("empty body", b"", "segment.malformed")
    add("random bytes", rng.randbytes(4096), "segment.malformed")
    add("only a header", good[:SEGMENT_HEADER_LEN], "segment.malformed")
    for cut in (1, 50, len(good) // 2, len(good) - SIG, len(good) - 1):
        add(f"truncated to {len(good) - cut} bytes", good[:-cut], "segment.malformed")
    add("trailing garbage", good + b"\x00" * 16, "segment.malformed")
    add("wrong magic", b"GSEH" + good[4:], "segment.malformed")
    add("format version 2", resign(good[:4] + b"\x02" + good[5:], m.signing), "segment.bad_version")
    add("unknown AEAD id", resign(good[:5] + b"\x09" + good[6:], m.signing), "segment.bad_version")
    add("op count beyond the limit", craft(header_for(writer, good_ops, last_seq=seq + 2000, op_count=2001),
                                           zlib.compress(ops_json(good_ops)), signer=m.signing, seal_to=pub),
        "segment.too_many_ops")  # fmt: skip
    add("huge op count, range disagrees", craft(header_for(writer, good_ops, op_count=2**32 - 1),
                                                zlib.compress(ops_json(good_ops)), signer=m.signing, seal_to=pub),
        "segment.malformed")  # fmt: skip
    add("huge sequence numbers", craft(header_for(writer, good_ops, first_seq=2**63, last_seq=2**63 + 4),
                                       zlib.compress(ops_json(good_ops)), signer=m.signing, seal_to=pub),
        "op.sequence", "segment.malformed")  # fmt: skip

    # --- who sent it ----------------------------------------------------------------------------------
    add(
        "forged signature (another key, same device id)",
        resign(good, stranger.signing),
        "segment.bad_signature",
    )
    add("signature bytes flipped", good[:-1] + bytes([good[-1] ^ 1]), "segment.bad_signature")
    add("device key id of another key", craft(header_for(writer, good_ops,
                                                         device_key_id=crypto.key_id(crypto.public_raw(stranger.signing))),
                                              zlib.compress(ops_json(good_ops)), signer=m.signing, seal_to=pub),
        "segment.unknown_key")  # fmt: skip
    add("unknown device", craft(header_for(writer, good_ops, device_id="0" * 31 + "1"),
                                zlib.compress(ops_json(good_ops)), signer=m.signing, seal_to=pub),
        "device.unknown")  # fmt: skip

    # --- keys and encryption ----------------------------------------------------------------------
    add("sealed to another server key", craft(header_for(writer, good_ops, server_key_id=crypto.key_id(other_server)),
                                              zlib.compress(ops_json(good_ops)), signer=m.signing,
                                              seal_to=other_server), "segment.unknown_key")  # fmt: skip
    add("names our key, sealed to another", craft(header_for(writer, good_ops), zlib.compress(ops_json(good_ops)),
                                                  signer=m.signing, seal_to=other_server),
        "segment.decrypt_failed")  # fmt: skip
    ct_flip = bytearray(good)
    ct_flip[SEGMENT_HEADER_LEN + 40] ^= 0x80
    add("ciphertext flipped, re-signed", resign(bytes(ct_flip), m.signing), "segment.decrypt_failed")
    add("header edited after sealing, re-signed",
        resign(good[:SEGMENT_HEADER_LEN - 16] + struct.pack(">q", fleet.NOW + 1) + good[SEGMENT_HEADER_LEN - 8:],
               m.signing), "segment.decrypt_failed")  # fmt: skip

    # --- compression ------------------------------------------------------------------------------
    bomb = zlib.compress(b"[" + b" " * (40 * 1024 * 1024) + b"]", 9)
    add("decompression bomb (40 MiB of spaces)", craft(header_for(writer, good_ops), bomb, signer=m.signing,
                                                       seal_to=pub), "segment.bomb")  # fmt: skip
    add("not zlib", craft(header_for(writer, good_ops), ops_json(good_ops), signer=m.signing, seal_to=pub),
        "segment.decompress_failed")  # fmt: skip
    add("zlib cut short", craft(header_for(writer, good_ops), zlib.compress(ops_json(good_ops))[:-6],
                                signer=m.signing, seal_to=pub), "segment.decompress_failed")  # fmt: skip

    # --- the ops inside ------------------------------------------------------------------------------
    def sealed_plain(plain: bytes, **changes: Any) -> bytes:
        return craft(
            header_for(writer, good_ops, **changes), zlib.compress(plain), signer=m.signing, seal_to=pub
        )

    add("body not JSON", sealed_plain(b"\xff\xfenot json"), "op.malformed")
    add("body a JSON object", sealed_plain(b'{"ops": []}'), "op.malformed")
    add("fewer ops than the header says", sealed_plain(ops_json(good_ops[:4])), "segment.count_mismatch")
    add("an empty op", _with_op(writer, lambda op: op.clear()), "op.malformed")
    add("an extra op field", _with_op(writer, lambda op: op.update(admin=True)), "op.malformed")
    add("unknown op kind", _with_op(writer, lambda op: op.update(kind="delete")), "op.unknown_kind")
    add("bad field value", _with_op(writer, lambda op: op.update(case_id="../../etc/passwd")), "op.bad_field")
    add("NUL in a note", _with_op(writer, lambda op: op.update(kind="note", payload={"note_id": "a" * 32,
                                                                                      "text": "x\x00y"})),
        "op.bad_field")  # fmt: skip
    add("unknown payload field", _with_op(writer, lambda op: op["payload"].update(sql="DROP TABLE cases")),
        "op.bad_field")  # fmt: skip
    add("latitude not finite", _with_op(writer, lambda op: op.update(
        kind="create", payload={"category": "0101", "location": {"lat": 1e999, "lon": 0, "accuracy_m": 1,
                                                                  "source": "gps"}})), "op.bad_field")  # fmt: skip
    add("sequence gap inside", _with_op(writer, lambda op: op.update(seq=op["seq"] + 1)), "op.sequence")
    add("an op of another device", _with_op(writer, lambda op: op.update(device_id=stranger.device_id)),
        "segment.wrong_device")  # fmt: skip
    add("oversized text", _with_op(writer, lambda op: op.update(kind="note", payload={"note_id": "b" * 32,
                                                                                       "text": "长" * 2001})),
        "op.bad_field")  # fmt: skip

    # --- random byte flips anywhere (each re-signed half of the time) -------------------------------
    for i in range(flips):
        spoiled = bytearray(good)
        pos = rng.randrange(len(good))
        spoiled[pos] ^= 1 << rng.randrange(8)
        blob = bytes(spoiled)
        if i % 2 and pos < len(good) - SIG:
            blob = resign(blob, m.signing)
        add(f"bit flip at byte {pos}{' (re-signed)' if i % 2 else ''}", blob, *FLIP_CODES)
    return out


# Any of these is a correct answer to a flipped bit: which one depends on the byte it hit.
FLIP_CODES = (
    "segment.malformed",
    "segment.bad_version",
    "segment.too_many_ops",
    "segment.bad_signature",
    "segment.unknown_key",
    "segment.decrypt_failed",
    "device.unknown",
    "op.sequence",
    "segment.conflict",
    "segment.chain_broken",
    "segment.fork",
)


def first_segment(writer: fleet.Writer, count: int = 5) -> tuple[bytes, list[dict[str, Any]]]:
    ops = writer.ops(count)
    return writer.seal(ops), ops


__all__ = ["FLIP_CODES", "GENESIS_HASH", "Hostile", "corpus", "craft", "first_segment", "header_for"]
