"""The server's own key pairs: Ed25519 (signs sealed boxes) and X25519 (segments are sealed to it).

Private keys live in the data directory encrypted with the operator's passphrase
(`shared.crypto.encrypt_private_key`); the public halves and their key ids sit beside them in
`keys.json` so the CLI can print an enrollment link without the passphrase.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from shared import crypto

KEY_DIR = "keys"
SIGNING_FILE = "signing.pem"
ENCRYPTION_FILE = "encryption.pem"
PUBLIC_FILE = "keys.json"


class KeyFileError(ValueError):
    """The keys are missing or cannot be opened (wrong passphrase, damaged file)."""


@dataclass(frozen=True)
class PublicKeys:
    signing_key: bytes
    encryption_key: bytes

    @property
    def signing_key_id(self) -> str:
        return crypto.key_id(self.signing_key).hex()

    @property
    def encryption_key_id(self) -> str:
        return crypto.key_id(self.encryption_key).hex()

    def to_dict(self) -> dict[str, str]:
        return {
            "signing_key": crypto.b64e(self.signing_key),
            "encryption_key": crypto.b64e(self.encryption_key),
            "signing_key_id": self.signing_key_id,
            "encryption_key_id": self.encryption_key_id,
        }


@dataclass(frozen=True)
class ServerKeys:
    signing: Ed25519PrivateKey
    encryption: X25519PrivateKey

    @property
    def public(self) -> PublicKeys:
        return PublicKeys(crypto.public_raw(self.signing), crypto.public_raw(self.encryption))


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def create_keys(data_dir: Path, passphrase: str) -> ServerKeys:
    """Make both key pairs and store them. Refuses to overwrite existing keys."""
    if not passphrase:
        raise KeyFileError("a passphrase is required")
    folder = data_dir / KEY_DIR
    if (folder / SIGNING_FILE).exists():
        raise KeyFileError(f"{folder} already holds keys; refusing to replace them")
    folder.mkdir(parents=True, exist_ok=True)
    keys = ServerKeys(crypto.new_signing_key(), crypto.new_encryption_key())
    _write_private(folder / SIGNING_FILE, crypto.encrypt_private_key(keys.signing, passphrase))
    _write_private(folder / ENCRYPTION_FILE, crypto.encrypt_private_key(keys.encryption, passphrase))
    (folder / PUBLIC_FILE).write_text(json.dumps(keys.public.to_dict(), indent=2) + "\n", "utf-8")
    return keys


def load_keys(data_dir: Path, passphrase: str) -> ServerKeys:
    folder = data_dir / KEY_DIR
    try:
        signing_pem = (folder / SIGNING_FILE).read_bytes()
        encryption_pem = (folder / ENCRYPTION_FILE).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read the server keys in {folder}: {exc.strerror}") from exc
    try:
        signing = crypto.load_private_key(signing_pem, passphrase)
        encryption = crypto.load_private_key(encryption_pem, passphrase)
    except ValueError as exc:
        raise KeyFileError(str(exc)) from exc
    if not isinstance(signing, Ed25519PrivateKey) or not isinstance(encryption, X25519PrivateKey):
        raise KeyFileError("the key files hold keys of the wrong type")
    return ServerKeys(signing, encryption)


def load_public_keys(data_dir: Path) -> PublicKeys:
    try:
        raw = json.loads((data_dir / KEY_DIR / PUBLIC_FILE).read_text("utf-8"))
        return PublicKeys(crypto.b64d(raw["signing_key"]), crypto.b64d(raw["encryption_key"]))
    except (OSError, ValueError, KeyError) as exc:
        raise KeyFileError(f"cannot read the server's public keys: {exc}") from exc
