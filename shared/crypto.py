"""All cryptography of gridsync, in one module.

Device keys are Ed25519 (signing) and X25519 (encryption); the server holds the same pair. Public keys
travel as 32 raw bytes and are named by an 8-byte key id. HPKE (RFC 9180, base mode,
DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305 or AES-128-GCM) is built here from
primitives, because the phone's cryptography wheel (43.0.1) has no `hpke` module; the test vectors of
RFC 9180 Appendix A prove it byte for byte.

Invariants: nothing here reads the clock, the disk or the network; the only randomness is
`os.urandom`, and every place that draws it can be given the bytes instead (`ikm_e`) for tests.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from shared.errors import GridsyncError

AnyKey = Ed25519PrivateKey | Ed25519PublicKey | X25519PrivateKey | X25519PublicKey

KEY_ID_LEN = 8
SIGNATURE_LEN = 64

# --- keys ---------------------------------------------------------------------------------------


def new_signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def new_encryption_key() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


def public_raw(key: AnyKey) -> bytes:
    """The 32 raw public bytes of a private or public Ed25519/X25519 key."""
    if isinstance(key, Ed25519PrivateKey | X25519PrivateKey):
        return key.public_key().public_bytes_raw()
    return key.public_bytes_raw()


def private_raw(key: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    return key.private_bytes_raw()


def signing_key_from_raw(raw: bytes) -> Ed25519PrivateKey:
    """Raises ValueError unless `raw` is 32 bytes."""
    return Ed25519PrivateKey.from_private_bytes(raw)


def encryption_key_from_raw(raw: bytes) -> X25519PrivateKey:
    """Raises ValueError unless `raw` is 32 bytes."""
    return X25519PrivateKey.from_private_bytes(raw)


def key_id(public_raw: bytes) -> bytes:
    """The 8-byte name of a public key: the first 8 bytes of its SHA-256."""
    return hashlib.sha256(public_raw).digest()[:KEY_ID_LEN]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_B64_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")


def b64e(data: bytes) -> str:
    """URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    """Inverse of `b64e`. Only the canonical encoding is accepted (one string per byte string), so a
    signature or key can't be smuggled in several spellings. Anything else is request.malformed."""
    if not isinstance(text, str) or not _B64_ALPHABET.fullmatch(text) or len(text) % 4 == 1:
        raise GridsyncError("request.malformed", "not url-safe base64")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise GridsyncError("request.malformed", "not url-safe base64") from exc
    if b64e(data) != text:
        raise GridsyncError("request.malformed", "non-canonical base64")
    return data


# --- signatures ---------------------------------------------------------------------------------


def sign(key: Ed25519PrivateKey, message: bytes) -> bytes:
    return key.sign(message)


def verify(public_raw: bytes, signature: bytes, message: bytes) -> bool:
    """True only for a valid Ed25519 signature; any malformed input is simply False."""
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, message)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


# --- HPKE (RFC 9180) ----------------------------------------------------------------------------

MODE_BASE = 0x00
KEM_DHKEM_X25519_SHA256 = 0x0020
KDF_HKDF_SHA256 = 0x0001
AEAD_AES128GCM = 0x0001
AEAD_CHACHA20POLY1305 = 0x0003

N_SECRET = 32  # Nsecret of the KEM, and Nh of HKDF-SHA256
N_ENC = 32  # Npk = Nenc for X25519
N_NONCE = 12
N_TAG = 16
_AEAD_KEY_LEN = {AEAD_AES128GCM: 16, AEAD_CHACHA20POLY1305: 32}
SUPPORTED_AEADS = frozenset(_AEAD_KEY_LEN)

_KEM_SUITE_ID = b"KEM" + KEM_DHKEM_X25519_SHA256.to_bytes(2, "big")


def _labeled_extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    # HKDF-Extract is HMAC(salt, ikm); an empty salt is Nh zero bytes, which HMAC pads to anyway.
    return hmac.digest(salt or bytes(N_SECRET), b"HPKE-v1" + suite_id + label + ikm, "sha256")


def _labeled_expand(suite_id: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    labeled_info = length.to_bytes(2, "big") + b"HPKE-v1" + suite_id + label + info
    return HKDFExpand(hashes.SHA256(), length, labeled_info).derive(prk)


def derive_key_pair(ikm: bytes) -> X25519PrivateKey:
    """DeriveKeyPair of DHKEM(X25519, HKDF-SHA256) (RFC 9180 §7.1.3)."""
    dkp_prk = _labeled_extract(_KEM_SUITE_ID, b"", b"dkp_prk", ikm)
    return X25519PrivateKey.from_private_bytes(_labeled_expand(_KEM_SUITE_ID, dkp_prk, b"sk", b"", 32))


def _extract_and_expand(dh: bytes, kem_context: bytes) -> bytes:
    eae_prk = _labeled_extract(_KEM_SUITE_ID, b"", b"eae_prk", dh)
    return _labeled_expand(_KEM_SUITE_ID, eae_prk, b"shared_secret", kem_context, N_SECRET)


def _exchange(sk: X25519PrivateKey, pk_raw: bytes) -> bytes:
    dh = sk.exchange(X25519PublicKey.from_public_bytes(pk_raw))
    if dh == bytes(32):  # a low-order point; OpenSSL already refuses it, this keeps RFC 9180 §7.1.4
        raise ValueError("X25519 produced the all-zero shared secret")
    return dh


def encap(pk_r_raw: bytes, ikm_e: bytes | None = None) -> tuple[bytes, bytes]:
    """(shared_secret, enc). A fresh ephemeral key unless `ikm_e` is given (tests only)."""
    sk_e = derive_key_pair(ikm_e) if ikm_e is not None else X25519PrivateKey.generate()
    enc = public_raw(sk_e)
    return _extract_and_expand(_exchange(sk_e, pk_r_raw), enc + pk_r_raw), enc


def decap(enc: bytes, sk_r: X25519PrivateKey) -> bytes:
    return _extract_and_expand(_exchange(sk_r, enc), enc + public_raw(sk_r))


class HpkeContext:
    """The state of one HPKE context (RFC 9180 §5.2): key, base nonce, exporter secret, sequence."""

    def __init__(self, aead_id: int, shared_secret: bytes, info: bytes) -> None:
        if aead_id not in _AEAD_KEY_LEN:
            raise ValueError(f"unsupported HPKE AEAD id {aead_id}")
        self.aead_id = aead_id
        self.suite_id = b"HPKE" + b"".join(
            n.to_bytes(2, "big") for n in (KEM_DHKEM_X25519_SHA256, KDF_HKDF_SHA256, aead_id)
        )
        psk_id_hash = _labeled_extract(self.suite_id, b"", b"psk_id_hash", b"")
        info_hash = _labeled_extract(self.suite_id, b"", b"info_hash", info)
        self.key_schedule_context = bytes([MODE_BASE]) + psk_id_hash + info_hash
        self.secret = _labeled_extract(self.suite_id, shared_secret, b"secret", b"")
        self.key = self._expand(b"key", _AEAD_KEY_LEN[aead_id])
        self.base_nonce = self._expand(b"base_nonce", N_NONCE)
        self.exporter_secret = self._expand(b"exp", N_SECRET)
        self._aead: AESGCM | ChaCha20Poly1305 = (
            AESGCM(self.key) if aead_id == AEAD_AES128GCM else ChaCha20Poly1305(self.key)
        )
        self._seq = 0

    def _expand(self, label: bytes, length: int) -> bytes:
        return _labeled_expand(self.suite_id, self.secret, label, self.key_schedule_context, length)

    @property
    def seq(self) -> int:
        """The sequence number the next seal/open will use. Read-only: reusing one reuses a nonce."""
        return self._seq

    def _next_nonce(self) -> bytes:
        if self._seq >= (1 << (8 * N_NONCE)) - 1:
            raise ValueError("HPKE message limit reached")
        seq_bytes = self._seq.to_bytes(N_NONCE, "big")
        return bytes(a ^ b for a, b in zip(self.base_nonce, seq_bytes, strict=True))

    def export(self, exporter_context: bytes, length: int) -> bytes:
        """A secret of `length` bytes bound to this context (RFC 9180 §5.3)."""
        if not 0 < length <= 255 * N_SECRET:
            raise ValueError("HPKE export length out of range")
        return _labeled_expand(self.suite_id, self.exporter_secret, b"sec", exporter_context, length)


class SenderContext(HpkeContext):
    def seal(self, aad: bytes, pt: bytes) -> bytes:
        ct = self._aead.encrypt(self._next_nonce(), pt, aad)
        self._seq += 1
        return ct


class RecipientContext(HpkeContext):
    def open(self, aad: bytes, ct: bytes) -> bytes:
        """Raises GridsyncError("segment.decrypt_failed"); the sequence only advances on success."""
        try:
            pt = self._aead.decrypt(self._next_nonce(), ct, aad)
        except InvalidTag as exc:
            raise GridsyncError("segment.decrypt_failed", "authentication failed") from exc
        self._seq += 1
        return pt


def setup_base_s(
    pk_r_raw: bytes, info: bytes, ikm_e: bytes | None = None, aead_id: int = AEAD_CHACHA20POLY1305
) -> tuple[bytes, SenderContext]:
    """SetupBaseS: (enc, sender context) for the recipient's raw X25519 public key."""
    shared_secret, enc = encap(pk_r_raw, ikm_e)
    return enc, SenderContext(aead_id, shared_secret, info)


def setup_base_r(
    enc: bytes, sk_r: X25519PrivateKey, info: bytes, aead_id: int = AEAD_CHACHA20POLY1305
) -> RecipientContext:
    """SetupBaseR. Raises ValueError on an unusable `enc` or AEAD id."""
    return RecipientContext(aead_id, decap(enc, sk_r), info)


def hpke_seal(
    recipient_public_raw: bytes,
    plaintext: bytes,
    info: bytes,
    aad: bytes = b"",
    *,
    aead_id: int = AEAD_CHACHA20POLY1305,
    ikm_e: bytes | None = None,
) -> bytes:
    """Single-shot HPKE: enc (32 bytes) || ciphertext, as RFC 9180 §6.1 and other libraries lay it out."""
    enc, ctx = setup_base_s(recipient_public_raw, info, ikm_e, aead_id)
    return enc + ctx.seal(aad, plaintext)


def hpke_open(
    recipient_private: X25519PrivateKey,
    sealed: bytes,
    info: bytes,
    aad: bytes = b"",
    *,
    aead_id: int = AEAD_CHACHA20POLY1305,
) -> bytes:
    """Inverse of `hpke_seal`. Every failure, short input included, is segment.decrypt_failed."""
    if len(sealed) < N_ENC + N_TAG:
        raise GridsyncError("segment.decrypt_failed", "sealed data too short")
    try:
        ctx = setup_base_r(sealed[:N_ENC], recipient_private, info, aead_id)
    except ValueError as exc:
        raise GridsyncError("segment.decrypt_failed", str(exc)) from exc
    return ctx.open(aad, sealed[N_ENC:])


# --- photos -------------------------------------------------------------------------------------

PHOTO_NONCE_LEN = 12


def new_photo_key() -> bytes:
    return os.urandom(32)


def seal_photo(key: bytes, data: bytes) -> bytes:
    """AES-256-GCM under a per-photo key: nonce (12 bytes) || ciphertext || tag."""
    nonce = os.urandom(PHOTO_NONCE_LEN)
    return nonce + AESGCM(key).encrypt(nonce, data, None)


def open_photo(key: bytes, blob: bytes) -> bytes:
    """Inverse of `seal_photo`; a wrong key, a cut or a changed byte is photo.truncated."""
    if len(blob) < PHOTO_NONCE_LEN + N_TAG:
        raise GridsyncError("photo.truncated", "sealed photo too short")
    try:
        return AESGCM(key).decrypt(blob[:PHOTO_NONCE_LEN], blob[PHOTO_NONCE_LEN:], None)
    except (InvalidTag, ValueError) as exc:
        raise GridsyncError("photo.truncated", "sealed photo does not open") from exc


# --- the server's keys at rest ------------------------------------------------------------------


def encrypt_private_key(key: Ed25519PrivateKey | X25519PrivateKey, passphrase: str) -> bytes:
    """PKCS#8 PEM encrypted with the best scheme the library has. An empty passphrase is ValueError."""
    if not passphrase:
        raise ValueError("a passphrase is required to store a private key")
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode("utf-8")),
    )


def load_private_key(pem: bytes, passphrase: str) -> Ed25519PrivateKey | X25519PrivateKey:
    """Inverse of `encrypt_private_key`. Raises ValueError with a message a server operator can act on
    for a wrong passphrase, a damaged file, an unencrypted file or a key of another type."""
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase.encode("utf-8"))
    except TypeError as exc:  # the library's way of saying "this file is not encrypted"
        raise ValueError("the private key file is not encrypted; refusing to use it") from exc
    except ValueError as exc:
        raise ValueError("cannot decrypt the private key: wrong passphrase or damaged file") from exc
    if not isinstance(key, Ed25519PrivateKey | X25519PrivateKey):
        raise ValueError("the private key file holds neither an Ed25519 nor an X25519 key")
    return key
