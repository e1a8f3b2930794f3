"""Sealed segments and sealed boxes: the layout byte for byte, round trips, and every refusal."""

from __future__ import annotations

import hashlib
import tracemalloc
import uuid
import zlib
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import crypto, envelope
from shared.envelope import Limits
from shared.errors import GridsyncError

DEVICE = crypto.new_signing_key()
DEVICE_PUB = crypto.public_raw(DEVICE)
SERVER = crypto.new_encryption_key()
SERVER_PUB = crypto.public_raw(SERVER)
SERVER_SIGNER = crypto.new_signing_key()
PHONE_ENC = crypto.new_encryption_key()
DEVICE_ID = uuid.UUID("6f1c0e0a-1d2b-4c3d-8e4f-5a6b7c8d9e0f").hex
LIMITS = Limits()
PAYLOAD = b'[{"op": "create case", "seq": 41}, {"op": "add note", "seq": 42}]'


def make_segment(**overrides: object) -> bytes:
    args: dict[str, object] = {
        "device_id": DEVICE_ID,
        "first_seq": 41,
        "last_seq": 42,
        "prev_hash": envelope.GENESIS_HASH,
        "op_count": 2,
        "created_at": 1_760_000_000,
        "payload": PAYLOAD,
        "device_key": DEVICE,
        "server_public_raw": SERVER_PUB,
    }
    args.update(overrides)
    return envelope.seal_segment(**args)  # type: ignore[arg-type]


def open_it(blob: bytes, limits: Limits = LIMITS, device_pub: bytes = DEVICE_PUB) -> bytes:
    return envelope.open_segment(blob, device_public_raw=device_pub, server_private=SERVER, limits=limits)[1]


def refused(action: Callable[[], object]) -> str:
    """The code of the GridsyncError `action` raises; any other outcome fails the test."""
    with pytest.raises(GridsyncError) as caught:
        action()
    return caught.value.code


def resigned(blob: bytes, edit: Callable[[bytearray], None], key: Ed25519PrivateKey) -> bytes:
    body = bytearray(blob[:-64])
    edit(body)
    return bytes(body) + crypto.sign(key, bytes(body))


SEGMENT = make_segment()

# The layout, written out from the brief (offset, length, name) — independent of the module's struct.
SEGMENT_FIELDS = [
    (0, 4, "magic"), (4, 1, "format_version"), (5, 1, "aead_id"), (6, 16, "device_id"),
    (22, 8, "device_key_id"), (30, 8, "server_key_id"), (38, 8, "first_seq"), (46, 8, "last_seq"),
    (54, 32, "prev_hash"), (86, 4, "op_count"), (90, 8, "created_at"), (98, 4, "plain_len"),
    (102, 4, "ct_len"),
]  # fmt: skip
SEGMENT_HEADER_LEN = 106


def field_at(fields: list[tuple[int, int, str]], offset: int) -> str:
    return next((name for start, length, name in fields if start <= offset < start + length), "body")


# --- segments: layout and round trip ------------------------------------------------------------


def test_a_segment_is_laid_out_exactly_as_the_brief_says() -> None:
    blob = SEGMENT
    compressed_len = len(zlib.compress(PAYLOAD, 6))
    assert blob[0:4] == b"GSEG" and blob[4] == 1 and blob[5] == 3
    assert blob[6:22] == uuid.UUID(hex=DEVICE_ID).bytes
    assert blob[22:30] == hashlib.sha256(DEVICE_PUB).digest()[:8]
    assert blob[30:38] == hashlib.sha256(SERVER_PUB).digest()[:8]
    assert int.from_bytes(blob[38:46], "big") == 41 and int.from_bytes(blob[46:54], "big") == 42
    assert blob[54:86] == bytes(32)
    assert int.from_bytes(blob[86:90], "big") == 2
    assert int.from_bytes(blob[90:98], "big", signed=True) == 1_760_000_000
    assert int.from_bytes(blob[98:102], "big") == compressed_len
    ct_len = int.from_bytes(blob[102:106], "big")
    assert ct_len == compressed_len + 16
    assert len(blob) == SEGMENT_HEADER_LEN + 32 + ct_len + 64
    assert crypto.verify(DEVICE_PUB, blob[-64:], blob[:-64])
    info = b"gridsync segment v1" + hashlib.sha256(blob[:SEGMENT_HEADER_LEN]).digest()
    compressed = crypto.hpke_open(SERVER, blob[SEGMENT_HEADER_LEN:-64], info)
    assert zlib.decompress(compressed) == PAYLOAD


@pytest.mark.parametrize("aead_id", [crypto.AEAD_AES128GCM, crypto.AEAD_CHACHA20POLY1305])
def test_a_sealed_segment_opens_to_its_header_and_payload(aead_id: int) -> None:
    blob = make_segment(aead_id=aead_id, created_at=-5)
    header, payload = envelope.open_segment(
        blob, device_public_raw=DEVICE_PUB, server_private=SERVER, limits=LIMITS
    )
    assert payload == PAYLOAD
    assert header == envelope.read_header(blob, LIMITS) == envelope.verify_segment(blob, DEVICE_PUB, LIMITS)
    assert (header.device_id, header.first_seq, header.last_seq, header.op_count) == (DEVICE_ID, 41, 42, 2)
    assert (header.aead_id, header.created_at, header.prev_hash) == (aead_id, -5, envelope.GENESIS_HASH)
    assert header.device_key_id == crypto.key_id(DEVICE_PUB)
    assert header.server_key_id == crypto.key_id(SERVER_PUB)
    assert header.to_bytes() == blob[:SEGMENT_HEADER_LEN]


def test_segments_chain_by_the_hash_of_the_previous_segment() -> None:
    first = make_segment(first_seq=1, last_seq=1, op_count=1)
    second = make_segment(first_seq=2, last_seq=3, op_count=2, prev_hash=envelope.segment_hash(first))
    assert envelope.segment_hash(first) == hashlib.sha256(first).digest()
    assert envelope.read_header(second, LIMITS).prev_hash == envelope.segment_hash(first)


def test_the_same_ops_seal_to_different_bytes_each_time() -> None:
    assert make_segment() != make_segment()  # a fresh ephemeral key: nothing links two uploads


def test_an_empty_payload_and_a_dashed_device_id_still_round_trip() -> None:
    blob = make_segment(payload=b"", device_id=str(uuid.UUID(hex=DEVICE_ID)))
    header, payload = envelope.open_segment(
        blob, device_public_raw=DEVICE_PUB, server_private=SERVER, limits=LIMITS
    )
    assert payload == b"" and header.device_id == DEVICE_ID


@pytest.mark.parametrize(
    "overrides",
    [
        {"prev_hash": b"short"},
        {"first_seq": 3, "last_seq": 2, "op_count": 0},
        {"op_count": 3},
        {"aead_id": 2},
        {"first_seq": -1, "last_seq": 0, "op_count": 2},
        {"created_at": 2**63},
        {"device_id": "not a uuid"},
    ],
)
def test_sealing_with_inconsistent_arguments_is_a_value_error(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make_segment(**overrides)


# --- segments: refusals -------------------------------------------------------------------------


def expected_for_flip(offset: int, flipped_to: int) -> str:
    field = field_at(SEGMENT_FIELDS, offset)
    if field == "magic":
        return "segment.malformed"
    if field == "format_version":
        return "segment.bad_version"
    if field == "aead_id":  # the other supported suite still parses; the signature catches it
        return "segment.bad_signature" if flipped_to in (1, 3) else "segment.bad_version"
    if field in ("first_seq", "last_seq", "op_count", "plain_len", "ct_len"):
        return "segment.malformed"  # the header no longer agrees with itself or with the size
    return "segment.bad_signature"


@settings(max_examples=400)
@given(offset=st.integers(0, len(SEGMENT) - 1), mask=st.integers(1, 255))
def test_any_single_flipped_byte_in_a_segment_is_refused_with_the_right_code(offset: int, mask: int) -> None:
    blob = bytearray(SEGMENT)
    blob[offset] ^= mask
    assert refused(lambda: open_it(bytes(blob))) == expected_for_flip(offset, blob[offset])


@given(st.integers(0, len(SEGMENT) - 1))
def test_any_truncated_segment_is_refused_as_malformed(length: int) -> None:
    assert refused(lambda: open_it(SEGMENT[:length])) == "segment.malformed"


@given(st.binary(min_size=1, max_size=70))
def test_any_bytes_appended_to_a_segment_are_refused_as_malformed(extra: bytes) -> None:
    assert refused(lambda: open_it(SEGMENT + extra)) == "segment.malformed"


@given(st.binary(max_size=400))
def test_arbitrary_bytes_are_refused_cleanly_as_a_segment(blob: bytes) -> None:
    assert refused(lambda: open_it(blob)).startswith("segment.")


def test_a_segment_checked_against_another_device_key_has_a_bad_signature() -> None:
    other = crypto.public_raw(crypto.new_signing_key())
    assert refused(lambda: envelope.verify_segment(SEGMENT, other, LIMITS)) == "segment.bad_signature"
    assert refused(lambda: open_it(SEGMENT, device_pub=other)) == "segment.bad_signature"


def test_a_segment_sealed_to_another_server_key_names_an_unknown_key() -> None:
    blob = make_segment(server_public_raw=crypto.public_raw(crypto.new_encryption_key()))
    assert refused(lambda: open_it(blob)) == "segment.unknown_key"


def test_a_header_edited_and_resigned_by_another_key_is_refused() -> None:
    def later(body: bytearray) -> None:
        body[90:98] = (1_770_000_000).to_bytes(8, "big")

    intruder = crypto.new_signing_key()
    assert refused(lambda: open_it(resigned(SEGMENT, later, intruder))) == "segment.bad_signature"

    def claim_intruder_key(body: bytearray) -> None:
        later(body)
        body[22:30] = crypto.key_id(crypto.public_raw(intruder))

    assert (
        refused(lambda: open_it(resigned(SEGMENT, claim_intruder_key, intruder))) == "segment.bad_signature"
    )


def test_a_header_edited_and_resigned_by_the_device_itself_no_longer_decrypts() -> None:
    # The header's hash is in the HPKE info: even a valid signature cannot move a header onto
    # ciphertext sealed under another one.
    def later(body: bytearray) -> None:
        body[90:98] = (1_770_000_000).to_bytes(8, "big")

    assert refused(lambda: open_it(resigned(SEGMENT, later, DEVICE))) == "segment.decrypt_failed"


def test_a_signed_segment_that_names_another_key_is_refused_as_unknown_key() -> None:
    def other_device_key(body: bytearray) -> None:
        body[22:30] = bytes(8)

    def other_server_key(body: bytearray) -> None:
        body[30:38] = bytes(8)

    assert refused(lambda: open_it(resigned(SEGMENT, other_device_key, DEVICE))) == "segment.unknown_key"
    assert refused(lambda: open_it(resigned(SEGMENT, other_server_key, DEVICE))) == "segment.unknown_key"


def test_a_segment_of_a_future_format_version_is_refused_as_bad_version() -> None:
    def version_2(body: bytearray) -> None:
        body[4] = 2

    blob = resigned(SEGMENT, version_2, DEVICE)
    assert refused(lambda: envelope.read_header(blob, LIMITS)) == "segment.bad_version"


def test_a_segment_over_the_size_limit_is_refused_before_anything_else() -> None:
    limits = Limits(max_segment_bytes=len(SEGMENT) - 1)
    assert refused(lambda: envelope.read_header(SEGMENT, limits)) == "segment.too_large"
    assert refused(lambda: envelope.read_header(b"junk" * 100, Limits(max_segment_bytes=10))) == (
        "segment.too_large"
    )
    assert envelope.read_header(SEGMENT, Limits(max_segment_bytes=len(SEGMENT))).op_count == 2


def test_a_header_read_from_the_first_bytes_and_the_size_is_the_whole_segments_header() -> None:
    first = SEGMENT[: envelope.SEGMENT_HEADER_LEN]
    assert envelope.read_header(first, LIMITS, size=len(SEGMENT)) == envelope.read_header(SEGMENT, LIMITS)
    # the size is checked as the whole segment's would be: lengths, and the size limit
    assert refused(lambda: envelope.read_header(first, LIMITS, size=len(SEGMENT) + 1)) == "segment.malformed"
    small = Limits(max_segment_bytes=len(SEGMENT) - 1)
    assert refused(lambda: envelope.read_header(first, small, size=len(SEGMENT))) == "segment.too_large"
    # fewer bytes than a header is no header, whatever size is claimed
    assert refused(lambda: envelope.read_header(first[:-1], LIMITS, size=len(SEGMENT))) == "segment.malformed"


def test_op_count_over_max_ops_is_refused_as_too_many_ops() -> None:
    at_limit = make_segment(first_seq=1, last_seq=2000, op_count=2000)
    over = make_segment(first_seq=1, last_seq=2001, op_count=2001)
    assert envelope.read_header(at_limit, LIMITS).op_count == 2000
    assert refused(lambda: envelope.read_header(over, LIMITS)) == "segment.too_many_ops"
    assert refused(lambda: open_it(over)) == "segment.too_many_ops"


def test_a_decompression_bomb_sealed_properly_is_refused_as_bomb() -> None:
    limits = Limits(max_plain_bytes=1024 * 1024)
    at_limit = make_segment(payload=bytes(limits.max_plain_bytes))
    bomb = make_segment(payload=bytes(limits.max_plain_bytes + 1))
    assert len(bomb) < 2000  # tiny on the wire
    assert open_it(at_limit, limits) == bytes(limits.max_plain_bytes)
    assert refused(lambda: open_it(bomb, limits)) == "segment.bomb"


def test_a_bomb_past_the_default_32_mib_is_refused_as_bomb() -> None:
    bomb = make_segment(payload=bytes(LIMITS.max_plain_bytes + 1))
    assert refused(lambda: open_it(bomb)) == "segment.bomb"


def seal_raw_body(body: bytes) -> bytes:
    """A correctly signed and encrypted segment whose body is `body` as given (not zlib'd by us)."""
    header = envelope.SegmentHeader(
        1, 3, DEVICE_ID, crypto.key_id(DEVICE_PUB), crypto.key_id(SERVER_PUB), 41, 42,
        envelope.GENESIS_HASH, 2, 0, len(body), len(body) + 16,
    )  # fmt: skip
    header_bytes = header.to_bytes()
    info = b"gridsync segment v1" + hashlib.sha256(header_bytes).digest()
    signed = header_bytes + crypto.hpke_seal(SERVER_PUB, body, info)
    return signed + crypto.sign(DEVICE, signed)


@pytest.mark.parametrize(
    "body",
    [
        b"not zlib at all",
        zlib.compress(PAYLOAD)[:-3],
        zlib.compress(PAYLOAD) + b"trailing",
        b"",
    ],
    ids=["garbage", "truncated", "trailing bytes", "empty"],
)
def test_a_signed_segment_with_a_corrupt_body_is_refused_as_decompress_failed(body: bytes) -> None:
    assert refused(lambda: open_it(seal_raw_body(body))) == "segment.decompress_failed"


def test_a_segment_built_by_hand_from_the_brief_opens_like_a_sealed_one() -> None:
    assert open_it(seal_raw_body(zlib.compress(PAYLOAD, 6))) == PAYLOAD


def test_a_bomb_is_refused_without_inflating_it_beyond_the_cap() -> None:
    # 64 MiB of zeros compress to ~64 KiB; refusing them must not cost more than the cap in memory.
    deflate = zlib.compressobj(6)
    chunk = bytes(1 << 20)
    body = b"".join(deflate.compress(chunk) for _ in range(64)) + deflate.flush()
    blob = seal_raw_body(body)
    tracemalloc.start()
    try:
        assert refused(lambda: open_it(blob, Limits(max_plain_bytes=1 << 20))) == "segment.bomb"
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


# --- sealed boxes -------------------------------------------------------------------------------

PHONE_PUB = crypto.public_raw(PHONE_ENC)
SIGNER_PUB = crypto.public_raw(SERVER_SIGNER)
CHANGES = b'{"cursor": 7, "cases": []}'


def make_box(plaintext: bytes = CHANGES, **overrides: object) -> bytes:
    args: dict[str, object] = {
        "recipient_public_raw": PHONE_PUB,
        "signer": SERVER_SIGNER,
        "context": b"changes",
        "created_at": 1_760_000_000,
    }
    args.update(overrides)
    return envelope.seal_box(plaintext, **args)  # type: ignore[arg-type]


def open_box(
    blob: bytes, *, context: bytes = b"changes", signer_pub: bytes = SIGNER_PUB, max_plain: int = 1 << 20
) -> bytes:
    return envelope.open_box(
        blob,
        recipient_private=PHONE_ENC,
        signer_public_raw=signer_pub,
        context=context,
        max_plain_bytes=max_plain,
    )


BOX = make_box()
BOX_FIELDS = [
    (0, 4, "magic"), (4, 1, "format_version"), (5, 1, "aead_id"), (6, 8, "signer_key_id"),
    (14, 8, "recipient_key_id"), (22, 8, "created_at"), (30, 4, "ct_len"),
]  # fmt: skip
BOX_HEADER_LEN = 34


def test_a_box_is_laid_out_exactly_as_the_brief_says() -> None:
    assert BOX[0:4] == b"GBOX" and BOX[4] == 1 and BOX[5] == 3
    assert BOX[6:14] == hashlib.sha256(SIGNER_PUB).digest()[:8]
    assert BOX[14:22] == hashlib.sha256(PHONE_PUB).digest()[:8]
    assert int.from_bytes(BOX[22:30], "big", signed=True) == 1_760_000_000
    ct_len = int.from_bytes(BOX[30:34], "big")
    assert len(BOX) == BOX_HEADER_LEN + 32 + ct_len + 64
    assert crypto.verify(SIGNER_PUB, BOX[-64:], BOX[:-64])
    info = b"gridsync box v1" + b"changes" + hashlib.sha256(BOX[:BOX_HEADER_LEN]).digest()
    assert zlib.decompress(crypto.hpke_open(PHONE_ENC, BOX[BOX_HEADER_LEN:-64], info)) == CHANGES


@pytest.mark.parametrize("aead_id", [crypto.AEAD_AES128GCM, crypto.AEAD_CHACHA20POLY1305])
def test_a_sealed_box_opens_for_its_recipient_and_context(aead_id: int) -> None:
    blob = make_box(aead_id=aead_id)
    assert open_box(blob) == CHANGES
    header = envelope.read_box_header(blob)
    assert (header.aead_id, header.created_at) == (aead_id, 1_760_000_000)
    assert header.recipient_key_id == crypto.key_id(PHONE_PUB)


def test_a_box_made_for_one_purpose_never_opens_as_another() -> None:
    assert refused(lambda: open_box(BOX, context=b"enrollment")) == "segment.decrypt_failed"


def test_a_box_from_another_signer_or_for_another_recipient_is_refused() -> None:
    stranger = crypto.public_raw(crypto.new_signing_key())
    assert refused(lambda: open_box(BOX, signer_pub=stranger)) == "segment.bad_signature"
    for_someone_else = make_box(recipient_public_raw=crypto.public_raw(crypto.new_encryption_key()))
    assert refused(lambda: open_box(for_someone_else)) == "segment.unknown_key"

    def other_signer_id(body: bytearray) -> None:
        body[6:14] = bytes(8)

    assert refused(lambda: open_box(resigned(BOX, other_signer_id, SERVER_SIGNER))) == "segment.unknown_key"


def test_a_box_header_edited_and_resigned_is_refused() -> None:
    def older(body: bytearray) -> None:
        body[22:30] = (1_700_000_000).to_bytes(8, "big")

    assert (
        refused(lambda: open_box(resigned(BOX, older, crypto.new_signing_key()))) == "segment.bad_signature"
    )
    assert refused(lambda: open_box(resigned(BOX, older, SERVER_SIGNER))) == "segment.decrypt_failed"


@settings(max_examples=300)
@given(offset=st.integers(0, len(BOX) - 1), mask=st.integers(1, 255))
def test_any_single_flipped_byte_in_a_box_is_refused_with_the_right_code(offset: int, mask: int) -> None:
    blob = bytearray(BOX)
    blob[offset] ^= mask
    field = field_at(BOX_FIELDS, offset)
    expected = {
        "magic": "segment.malformed",
        "format_version": "segment.bad_version",
        "aead_id": "segment.bad_signature" if blob[offset] in (1, 3) else "segment.bad_version",
        "ct_len": "segment.malformed",
    }.get(field, "segment.bad_signature")
    assert refused(lambda: open_box(bytes(blob))) == expected


@given(st.integers(0, len(BOX) - 1), st.binary(min_size=1, max_size=40))
def test_any_truncated_or_extended_box_is_refused_as_malformed(length: int, extra: bytes) -> None:
    assert refused(lambda: open_box(BOX[:length])) == "segment.malformed"
    assert refused(lambda: open_box(BOX + extra)) == "segment.malformed"


def test_a_box_that_expands_past_its_limit_is_refused_as_bomb() -> None:
    bomb = make_box(bytes(1 << 20))
    assert open_box(bomb, max_plain=1 << 20) == bytes(1 << 20)
    assert refused(lambda: open_box(bomb, max_plain=(1 << 20) - 1)) == "segment.bomb"


def test_a_keyring_opens_a_segment_sealed_to_a_retired_key_and_refuses_an_unknown_one() -> None:
    from shared.envelope import keyring, open_segment_keyring

    device = crypto.new_signing_key()
    old, new, stranger = crypto.new_encryption_key(), crypto.new_encryption_key(), crypto.new_encryption_key()
    blob = envelope.seal_segment(
        device_id="ab" * 16, first_seq=1, last_seq=1, prev_hash=bytes(32), op_count=1, created_at=0,
        payload=b"[]", device_key=device, server_public_raw=crypto.public_raw(old),
    )  # fmt: skip
    ring = keyring([new, old])
    _, plain = open_segment_keyring(
        blob, device_public_raw=crypto.public_raw(device), server_keys=ring, limits=Limits()
    )
    assert plain == b"[]"
    with pytest.raises(GridsyncError) as caught:
        open_segment_keyring(
            blob,
            device_public_raw=crypto.public_raw(device),
            server_keys=keyring([stranger]),
            limits=Limits(),
        )
    assert caught.value.code == "segment.unknown_key"
    with pytest.raises(GridsyncError) as forged:  # the signature is still checked first
        open_segment_keyring(
            blob[:-1] + bytes([blob[-1] ^ 1]), device_public_raw=crypto.public_raw(device),
            server_keys=keyring([stranger]), limits=Limits(),
        )  # fmt: skip
    assert forged.value.code == "segment.bad_signature"
