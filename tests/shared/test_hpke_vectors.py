"""HPKE proven byte for byte against RFC 9180 Appendix A (A.1: AES-128-GCM, A.2: ChaCha20Poly1305), and
against the `cryptography.hazmat.primitives.hpke` module where it exists (tests named `interop`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from shared import crypto
from shared.errors import GridsyncError

VECTORS_FILE = Path(__file__).parent.parent / "data" / "hpke-rfc9180-x25519-base.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTORS_FILE.read_text())["vectors"]

# The JSON file carries no exports, so these are copied from RFC 9180 A.1.1.2 and A.2.1.2
# (exporter_context, L = 32, exported value); `_exports` prefers the file's when it has them.
RFC_EXPORTS: dict[int, list[tuple[str, str]]] = {
    1: [
        ("", "3853fe2b4035195a573ffc53856e77058e15d9ea064de3e59f4961d0095250ee"),
        ("00", "2e8f0b54673c7029649d4eb9d5e33bf1872cf76d623ff164ac185da9e88c21a5"),
        ("54657374436f6e74657874", "e9e43065102c3836401bed8c3c3c75ae46be1639869391d62c61f1ec7af54931"),
    ],
    3: [
        ("", "4bbd6243b8bb54cec311fac9df81841b6fd61f56538a775e7c80a9f40160606e"),
        ("00", "8c1df14732580e5501b00f82b10a1647b40713191b7c1240ac80e2b68808ba69"),
        ("54657374436f6e74657874", "5acb09211139c43b3090489a9da433e8a30ee7188ba8b0a9a1ccf0c229283e53"),
    ],
}

by_aead = pytest.mark.parametrize("vector", VECTORS, ids=[f"aead{v['aead_id']}" for v in VECTORS])
both_aeads = pytest.mark.parametrize(
    "aead_id", [crypto.AEAD_AES128GCM, crypto.AEAD_CHACHA20POLY1305], ids=["aes128gcm", "chacha20poly1305"]
)


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def _exports(vector: dict[str, Any]) -> list[tuple[bytes, int, bytes]]:
    if "exports" in vector:
        return [(h(e["exporter_context"]), int(e["L"]), h(e["exported_value"])) for e in vector["exports"]]
    return [(h(ctx), 32, h(value)) for ctx, value in RFC_EXPORTS[vector["aead_id"]]]


def _sender(vector: dict[str, Any]) -> tuple[bytes, crypto.SenderContext]:
    return crypto.setup_base_s(h(vector["pkRm"]), h(vector["info"]), h(vector["ikmE"]), vector["aead_id"])


def _recipient(vector: dict[str, Any]) -> crypto.RecipientContext:
    sk_r = crypto.encryption_key_from_raw(h(vector["skRm"]))
    return crypto.setup_base_r(h(vector["enc"]), sk_r, h(vector["info"]), vector["aead_id"])


def test_the_vector_file_covers_both_aeads_in_base_mode() -> None:
    assert sorted(v["aead_id"] for v in VECTORS) == [1, 3]
    assert all((v["mode"], v["kem_id"], v["kdf_id"]) == (0, 0x20, 1) for v in VECTORS)


@by_aead
def test_derive_key_pair_reproduces_the_rfc_ephemeral_and_recipient_keys(vector: dict[str, Any]) -> None:
    for ikm, sk, pk in (("ikmE", "skEm", "pkEm"), ("ikmR", "skRm", "pkRm")):
        key = crypto.derive_key_pair(h(vector[ikm]))
        assert crypto.private_raw(key).hex() == vector[sk]
        assert crypto.public_raw(key).hex() == vector[pk]


@by_aead
def test_encap_and_decap_reach_the_rfc_shared_secret(vector: dict[str, Any]) -> None:
    shared_secret, enc = crypto.encap(h(vector["pkRm"]), h(vector["ikmE"]))
    assert enc.hex() == vector["enc"] == vector["pkEm"]
    assert shared_secret.hex() == vector["shared_secret"]
    sk_r = crypto.encryption_key_from_raw(h(vector["skRm"]))
    assert crypto.decap(enc, sk_r).hex() == vector["shared_secret"]


@by_aead
def test_sender_and_recipient_key_schedules_match_the_rfc(vector: dict[str, Any]) -> None:
    enc, sender = _sender(vector)
    assert enc.hex() == vector["enc"]
    for ctx in (sender, _recipient(vector)):
        assert ctx.key_schedule_context.hex() == vector["key_schedule_context"]
        assert ctx.secret.hex() == vector["secret"]
        assert ctx.key.hex() == vector["key"]
        assert ctx.base_nonce.hex() == vector["base_nonce"]
        assert ctx.exporter_secret.hex() == vector["exporter_secret"]


@by_aead
def test_sender_seals_the_rfc_ciphertexts_at_sequence_numbers_0_1_2_and_4(vector: dict[str, Any]) -> None:
    _, sender = _sender(vector)
    for encryption in vector["encryptions"]:
        seq = int(encryption["sequence number"])
        while sender.seq < seq:  # the RFC lists 0, 1, 2, 4: advance past the ones it leaves out
            sender.seal(b"skipped", b"")
        assert sender.seal(h(encryption["aad"]), h(encryption["pt"])).hex() == encryption["ct"]
    assert sender.seq == 5


@by_aead
def test_recipient_opens_the_rfc_ciphertexts_at_sequence_numbers_0_1_2_and_4(vector: dict[str, Any]) -> None:
    _, filler = _sender(vector)  # the same keys, to make ciphertexts for the sequence numbers skipped
    recipient = _recipient(vector)
    for encryption in vector["encryptions"]:
        seq = int(encryption["sequence number"])
        while recipient.seq < seq:
            assert recipient.open(b"skipped", filler.seal(b"skipped", b"")) == b""
        filler.seal(b"", b"")  # keep the filler's sequence in step with the recipient's
        assert recipient.open(h(encryption["aad"]), h(encryption["ct"])).hex() == encryption["pt"]


@by_aead
def test_a_failed_open_does_not_advance_the_sequence(vector: dict[str, Any]) -> None:
    recipient = _recipient(vector)
    first = vector["encryptions"][0]
    with pytest.raises(GridsyncError) as refused:
        recipient.open(b"wrong aad", h(first["ct"]))
    assert refused.value.code == "segment.decrypt_failed"
    assert recipient.seq == 0
    assert recipient.open(h(first["aad"]), h(first["ct"])).hex() == first["pt"]


@by_aead
def test_both_sides_export_the_rfc_secrets(vector: dict[str, Any]) -> None:
    _, sender = _sender(vector)
    recipient = _recipient(vector)
    for exporter_context, length, value in _exports(vector):
        assert sender.export(exporter_context, length) == value
        assert recipient.export(exporter_context, length) == value


def test_an_unknown_aead_is_refused_when_setting_up() -> None:
    sk_r = crypto.new_encryption_key()
    with pytest.raises(ValueError, match="AEAD"):
        crypto.setup_base_s(crypto.public_raw(sk_r), b"info", aead_id=2)


def test_export_refuses_lengths_hkdf_cannot_produce() -> None:
    _, sender = crypto.setup_base_s(crypto.public_raw(crypto.new_encryption_key()), b"")
    with pytest.raises(ValueError):
        sender.export(b"", 255 * 32 + 1)
    with pytest.raises(ValueError):
        sender.export(b"", 0)
    assert len(sender.export(b"", 255 * 32)) == 255 * 32


# --- interop with cryptography's own HPKE (cryptography >= 46; deselected on the phone's 43) -----------


def _their_suite(aead_id: int) -> Any:
    from cryptography.hazmat.primitives import hpke  # type: ignore[attr-defined,unused-ignore]

    aead = {
        crypto.AEAD_AES128GCM: hpke.AEAD.AES_128_GCM,
        crypto.AEAD_CHACHA20POLY1305: hpke.AEAD.CHACHA20_POLY1305,
    }
    return hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, aead[aead_id])


@both_aeads
def test_interop_what_we_seal_cryptography_hpke_opens(aead_id: int) -> None:
    sk_r = crypto.new_encryption_key()
    for plaintext in (b"", b"one op", os.urandom(5000)):
        sealed = crypto.hpke_seal(crypto.public_raw(sk_r), plaintext, b"gridsync interop", aead_id=aead_id)
        assert _their_suite(aead_id).decrypt(sealed, sk_r, info=b"gridsync interop") == plaintext


@both_aeads
def test_interop_what_cryptography_hpke_seals_we_open(aead_id: int) -> None:
    sk_r = crypto.new_encryption_key()
    for plaintext in (b"", b"one op", os.urandom(5000)):
        sealed = _their_suite(aead_id).encrypt(plaintext, sk_r.public_key(), info=b"gridsync interop")
        assert crypto.hpke_open(sk_r, sealed, b"gridsync interop", aead_id=aead_id) == plaintext


@both_aeads
def test_interop_cryptography_hpke_refuses_what_we_sealed_under_another_info(aead_id: int) -> None:
    sk_r = crypto.new_encryption_key()
    sealed = crypto.hpke_seal(crypto.public_raw(sk_r), b"op", b"gridsync segment v1", aead_id=aead_id)
    with pytest.raises(Exception):  # noqa: B017 - their error type is theirs to choose
        _their_suite(aead_id).decrypt(sealed, sk_r, info=b"gridsync box v1")
