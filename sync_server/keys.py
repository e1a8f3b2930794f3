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
from shared.envelope import keyring

KEY_DIR = "keys"
SIGNING_FILE = "signing.pem"
ENCRYPTION_FILE = "encryption.pem"
RETIRED_PREFIX = "encryption-retired-"  # + key id hex + ".pem"
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
    encryption: X25519PrivateKey  # the current key: new enrollments and the changes feed name it
    retired: tuple[X25519PrivateKey, ...] = ()  # earlier keys, kept so queued segments still open

    @property
    def public(self) -> PublicKeys:
        return PublicKeys(crypto.public_raw(self.signing), crypto.public_raw(self.encryption))

    def keyring(self) -> dict[bytes, X25519PrivateKey]:
        return keyring((self.encryption, *self.retired))

    def encryption_raws(self) -> tuple[bytes, ...]:
        """Every encryption key's raw private bytes, current first (for the ingest's worker processes)."""
        return tuple(crypto.private_raw(k) for k in (self.encryption, *self.retired))


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
    current_id = crypto.key_id(crypto.public_raw(encryption))
    retired = []
    for path in sorted(folder.glob(f"{RETIRED_PREFIX}*.pem")):
        try:
            old = crypto.load_private_key(path.read_bytes(), passphrase)
        except (OSError, ValueError) as exc:
            raise KeyFileError(f"cannot open the retired key {path.name}: {exc}") from exc
        if not isinstance(old, X25519PrivateKey):
            raise KeyFileError(f"{path.name} is not an X25519 key")
        if crypto.key_id(crypto.public_raw(old)) != current_id:
            retired.append(old)
    return ServerKeys(signing, encryption, tuple(retired))


def rotate_encryption_key(data_dir: Path, passphrase: str) -> ServerKeys:
    """Make a new current encryption key and keep the old one as retired.

    Crash-safe in this order: the new key is written beside the old, the old is copied to its retired
    name, then the new replaces the current file, then keys.json follows. A running server picks the
    new key up when it restarts; phones learn it from their next changes page (signed by the server
    key they pinned) and seal to it from then on. The signing key does not rotate: phones pinned it.
    """
    keys = load_keys(data_dir, passphrase)
    folder = data_dir / KEY_DIR
    fresh = crypto.new_encryption_key()
    staged = folder / (ENCRYPTION_FILE + ".new")
    staged.unlink(missing_ok=True)
    _write_private(staged, crypto.encrypt_private_key(fresh, passphrase))
    old_id = crypto.key_id(crypto.public_raw(keys.encryption)).hex()
    retired_path = folder / f"{RETIRED_PREFIX}{old_id}.pem"
    if not retired_path.exists():
        _write_private(retired_path, (folder / ENCRYPTION_FILE).read_bytes())
    os.replace(staged, folder / ENCRYPTION_FILE)
    rotated = ServerKeys(keys.signing, fresh, (keys.encryption, *keys.retired))
    public_tmp = folder / (PUBLIC_FILE + ".tmp")
    public_tmp.write_text(json.dumps(rotated.public.to_dict(), indent=2) + "\n", "utf-8")
    os.replace(public_tmp, folder / PUBLIC_FILE)
    return rotated


def load_public_keys(data_dir: Path) -> PublicKeys:
    try:
        raw = json.loads((data_dir / KEY_DIR / PUBLIC_FILE).read_text("utf-8"))
        return PublicKeys(crypto.b64d(raw["signing_key"]), crypto.b64d(raw["encryption_key"]))
    except (OSError, ValueError, KeyError) as exc:
        raise KeyFileError(f"cannot read the server's public keys: {exc}") from exc
