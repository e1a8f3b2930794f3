"""Keys, signatures, single-shot HPKE, photo sealing and the server key at rest."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from shared import crypto
from shared.errors import GridsyncError

SERVER = crypto.new_encryption_key()
SERVER_PUB = crypto.public_raw(SERVER)


def refusal(exc: pytest.ExceptionInfo[GridsyncError]) -> str:
    return exc.value.code


# --- keys ---------------------------------------------------------------------------------------


def test_public_raw_is_the_same_32_bytes_from_a_private_key_or_its_public_half() -> None:
    for key in (crypto.new_signing_key(), crypto.new_encryption_key()):
        raw = crypto.public_raw(key)
        assert len(raw) == 32
        assert crypto.public_raw(key.public_key()) == raw


def test_private_keys_survive_a_round_trip_through_raw_bytes() -> None:
    signing = crypto.new_signing_key()
    encryption = crypto.new_encryption_key()
    assert crypto.public_raw(crypto.signing_key_from_raw(crypto.private_raw(signing))) == crypto.public_raw(
        signing
    )
    again = crypto.encryption_key_from_raw(crypto.private_raw(encryption))
    assert crypto.public_raw(again) == crypto.public_raw(encryption)
    assert isinstance(again, X25519PrivateKey)


def test_two_new_keys_differ() -> None:
    assert crypto.public_raw(crypto.new_signing_key()) != crypto.public_raw(crypto.new_signing_key())
    assert crypto.public_raw(crypto.new_encryption_key()) != crypto.public_raw(crypto.new_encryption_key())


def test_key_id_is_the_first_8_bytes_of_the_sha256_of_the_public_key() -> None:
    raw = crypto.public_raw(crypto.new_signing_key())
    assert crypto.key_id(raw) == hashlib.sha256(raw).digest()[:8]
    assert crypto.sha256_hex(raw) == hashlib.sha256(raw).hexdigest()


# --- base64 -------------------------------------------------------------------------------------


@given(st.binary(max_size=100))
def test_b64_round_trips_without_padding_and_url_safe(data: bytes) -> None:
    text = crypto.b64e(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert crypto.b64d(text) == data


@pytest.mark.parametrize("bad", ["a", "ab=c", "ab+/", "abc=", "ab c", "ab\n", "é", "ab?d", "AB"])
def test_b64d_refuses_what_b64e_would_never_write_as_malformed(bad: str) -> None:
    # "AB" decodes to one byte, but its canonical spelling is "AA": non-canonical spellings are refused.
    with pytest.raises(GridsyncError) as refused:
        crypto.b64d(bad)
    assert refusal(refused) == "request.malformed"


# --- signatures ---------------------------------------------------------------------------------


def test_a_signature_verifies_only_for_its_key_and_message() -> None:
    key = crypto.new_signing_key()
    signature = crypto.sign(key, b"segment")
    assert crypto.verify(crypto.public_raw(key), signature, b"segment")
    assert not crypto.verify(crypto.public_raw(key), signature, b"segmenT")
    assert not crypto.verify(crypto.public_raw(crypto.new_signing_key()), signature, b"segment")


@pytest.mark.parametrize(
    ("public", "signature"),
    [
        (b"", bytes(64)),
        (bytes(31), bytes(64)),
        (b"\xff" * 32, bytes(64)),
        (None, b"short"),
        (None, bytes(65)),
    ],
)
def test_verify_answers_false_and_never_raises_on_malformed_input(
    public: bytes | None, signature: bytes
) -> None:
    key = crypto.new_signing_key()
    raw = crypto.public_raw(key) if public is None else public
    assert crypto.verify(raw, signature, b"m") is False


# --- single-shot HPKE ---------------------------------------------------------------------------


@pytest.mark.parametrize("aead_id", [crypto.AEAD_AES128GCM, crypto.AEAD_CHACHA20POLY1305])
def test_hpke_single_shot_round_trips_and_lays_out_enc_then_ciphertext(aead_id: int) -> None:
    sealed = crypto.hpke_seal(SERVER_PUB, b"ops", b"info", b"aad", aead_id=aead_id)
    assert len(sealed) == 32 + 3 + 16
    assert crypto.hpke_open(SERVER, sealed, b"info", b"aad", aead_id=aead_id) == b"ops"


def test_hpke_single_shot_with_a_given_ephemeral_is_deterministic() -> None:
    ikm = bytes(range(32))
    first = crypto.hpke_seal(SERVER_PUB, b"ops", b"info", ikm_e=ikm)
    assert first == crypto.hpke_seal(SERVER_PUB, b"ops", b"info", ikm_e=ikm)
    assert first != crypto.hpke_seal(SERVER_PUB, b"ops", b"info")


def test_hpke_open_refuses_every_kind_of_wrong_input_as_decrypt_failed() -> None:
    sealed = crypto.hpke_seal(SERVER_PUB, b"ops", b"info", b"aad")
    flipped = bytearray(sealed)
    flipped[-1] ^= 1
    small_order_enc = bytes(32) + sealed[32:]  # X25519 all-zero point: no shared secret
    attempts = [
        (SERVER, sealed, b"other info", b"aad", crypto.AEAD_CHACHA20POLY1305),
        (SERVER, sealed, b"info", b"other aad", crypto.AEAD_CHACHA20POLY1305),
        (crypto.new_encryption_key(), sealed, b"info", b"aad", crypto.AEAD_CHACHA20POLY1305),
        (SERVER, bytes(flipped), b"info", b"aad", crypto.AEAD_CHACHA20POLY1305),
        (SERVER, sealed, b"info", b"aad", crypto.AEAD_AES128GCM),
        (SERVER, sealed, b"info", b"aad", 2),
        (SERVER, small_order_enc, b"info", b"aad", crypto.AEAD_CHACHA20POLY1305),
        (SERVER, sealed[:47], b"info", b"aad", crypto.AEAD_CHACHA20POLY1305),
        (SERVER, b"", b"info", b"aad", crypto.AEAD_CHACHA20POLY1305),
    ]
    for key, blob, info, aad, aead_id in attempts:
        with pytest.raises(GridsyncError) as refused:
            crypto.hpke_open(key, blob, info, aad, aead_id=aead_id)
        assert refusal(refused) == "segment.decrypt_failed"


@given(st.binary(max_size=200))
def test_hpke_open_of_arbitrary_bytes_is_always_a_clean_refusal(blob: bytes) -> None:
    with pytest.raises(GridsyncError) as refused:
        crypto.hpke_open(SERVER, blob, b"info")
    assert refusal(refused) == "segment.decrypt_failed"


def test_a_context_seals_a_stream_the_recipient_opens_in_order() -> None:
    enc, sender = crypto.setup_base_s(SERVER_PUB, b"stream")
    recipient = crypto.setup_base_r(enc, SERVER, b"stream")
    chunks = [sender.seal(b"", f"chunk {i}".encode()) for i in range(3)]
    assert chunks[0] != sender.seal(b"", b"chunk 0")  # a new nonce for every message
    assert [recipient.open(b"", c) for c in chunks] == [b"chunk 0", b"chunk 1", b"chunk 2"]
    assert sender.export(b"photo keys", 32) == recipient.export(b"photo keys", 32)
    assert sender.export(b"photo keys", 32) != sender.export(b"other keys", 32)


# --- photos -------------------------------------------------------------------------------------


def test_a_sealed_photo_opens_with_its_key_and_has_a_fresh_nonce_each_time() -> None:
    key = crypto.new_photo_key()
    assert len(key) == 32
    first, second = crypto.seal_photo(key, b"jpeg bytes"), crypto.seal_photo(key, b"jpeg bytes")
    assert first != second and len(first) == 12 + 10 + 16
    assert crypto.open_photo(key, first) == crypto.open_photo(key, second) == b"jpeg bytes"


def test_a_photo_under_a_wrong_key_or_cut_or_changed_is_refused_as_truncated() -> None:
    key = crypto.new_photo_key()
    blob = crypto.seal_photo(key, b"jpeg bytes")
    changed = bytearray(blob)
    changed[20] ^= 0x80
    for attempt_key, attempt in [
        (crypto.new_photo_key(), blob),
        (key, blob[:-1]),
        (key, blob[:12]),
        (key, bytes(changed)),
        (b"short key", blob),
    ]:
        with pytest.raises(GridsyncError) as refused:
            crypto.open_photo(attempt_key, attempt)
        assert refusal(refused) == "photo.truncated"


# --- the server's keys at rest ------------------------------------------------------------------


@pytest.mark.parametrize("make", [crypto.new_signing_key, crypto.new_encryption_key])
def test_a_private_key_is_stored_encrypted_and_loads_back_with_its_passphrase(
    make: Callable[[], Ed25519PrivateKey | X25519PrivateKey],
) -> None:
    key = make()
    pem = crypto.encrypt_private_key(key, "correct horse")
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert crypto.private_raw(key) not in pem
    loaded = crypto.load_private_key(pem, "correct horse")
    assert type(loaded) is type(key)
    assert crypto.public_raw(loaded) == crypto.public_raw(key)


def test_a_wrong_passphrase_is_a_clear_value_error() -> None:
    pem = crypto.encrypt_private_key(crypto.new_encryption_key(), "correct horse")
    with pytest.raises(ValueError, match="wrong passphrase"):
        crypto.load_private_key(pem, "battery staple")


def test_an_unencrypted_or_foreign_key_file_is_refused() -> None:
    plain = crypto.new_signing_key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="not encrypted"):
        crypto.load_private_key(plain, "anything")
    with pytest.raises(ValueError, match="wrong passphrase or damaged"):
        crypto.load_private_key(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n", "x")
    with pytest.raises(ValueError, match="passphrase is required"):
        crypto.encrypt_private_key(crypto.new_signing_key(), "")


def test_a_key_of_another_type_is_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pass"),
    )
    with pytest.raises(ValueError, match="neither an Ed25519 nor an X25519"):
        crypto.load_private_key(pem, "pass")


def test_b64e_matches_the_standard_library_spelling() -> None:
    assert crypto.b64e(b"\xfb\xff") == base64.urlsafe_b64encode(b"\xfb\xff").decode().rstrip("=") == "-_8"
