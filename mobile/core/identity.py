"""Who this phone is: the enrolled worker, the device's keys, and the server it trusts.

The private keys live in a `SecretStore` (the platform's secure storage on a phone); the database only
holds public values. The server's keys are pinned at enrollment and never replaced by anything the
server says later.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from mobile.core.secrets import SecretStore
from shared import crypto
from shared.model import Actor, Role

SIGNING_SECRET = "gridsync.device.signing_key"
ENCRYPTION_SECRET = "gridsync.device.encryption_key"


@dataclass(frozen=True, slots=True)
class Identity:
    device_id: str
    worker_id: str
    name: str
    role: str
    grids: tuple[str, ...]
    department: str | None
    server_url: str
    all_grids: bool = False

    def actor(self) -> Actor:
        return Actor(self.worker_id, Role(self.role), frozenset(self.grids), self.department, self.all_grids)

    @property
    def is_supervisor(self) -> bool:
        return self.role in (Role.SUPERVISOR, Role.ADMIN)


@dataclass(frozen=True, slots=True)
class ServerKeys:
    """The server's public keys as pinned at enrollment (raw 32 bytes each)."""

    signing: bytes
    encryption: bytes
    signing_key_id: str


@dataclass(frozen=True, slots=True)
class DeviceKeys:
    signing: Ed25519PrivateKey
    encryption: X25519PrivateKey

    @classmethod
    def generate(cls) -> DeviceKeys:
        return cls(crypto.new_signing_key(), crypto.new_encryption_key())

    def save(self, secrets: SecretStore) -> None:
        secrets.put(SIGNING_SECRET, crypto.private_raw(self.signing))
        secrets.put(ENCRYPTION_SECRET, crypto.private_raw(self.encryption))

    @classmethod
    def load(cls, secrets: SecretStore) -> DeviceKeys | None:
        signing, encryption = secrets.get(SIGNING_SECRET), secrets.get(ENCRYPTION_SECRET)
        if not signing or not encryption:
            return None
        return cls(
            crypto.signing_key_from_raw(signing),
            crypto.encryption_key_from_raw(encryption),
        )

    @staticmethod
    def forget(secrets: SecretStore) -> None:
        secrets.delete(SIGNING_SECRET)
        secrets.delete(ENCRYPTION_SECRET)
