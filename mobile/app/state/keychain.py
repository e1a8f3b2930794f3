"""The device's private keys in the phone's secure storage (iOS Keychain, Android Keystore).

The device core reads and writes its keys synchronously through a `SecretStore`; Flet's
`SecureStorage` service is async and lives in the Flutter client. So on a phone the app loads every
stored key into a `MemorySecretStore` before the device opens, and writes the store's `changes()`
back after anything that changes keys (enrollment, sign-out) and whenever the app leaves the
foreground, until none are left. On a desktop, in a browser (served: the keys stay on the serving
machine) and in tests the keys go to a `FileSecretStore` instead: owner-only files beside the data.

Each secret is stored as `secret/<name>` (other entries of the app's storage are left alone), its
value as base64 text (the storage holds strings).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final, Protocol

from mobile.core.secrets import MemorySecretStore, check_name, decode_value, encode_value

PREFIX: Final = "secret/"
#: platforms whose keys belong in the platform's secure storage (as `page.platform.value`)
PHONES: Final = frozenset({"android", "ios"})

log = logging.getLogger(__name__)


class AsyncSecureStorage(Protocol):
    """What the app uses of `flet_secure_storage.SecureStorage`."""

    async def get_all(self) -> dict[str, str]: ...

    async def set(self, key: str, value: str) -> None: ...

    async def remove(self, key: str) -> None: ...


def uses_secure_storage(platform: str | None, *, web: bool) -> bool:
    """Phone apps keep keys in secure storage. A browser on a phone does not: served in web mode, the
    device (and its keys) live on the serving machine, not in the browser."""
    return not web and (platform or "").lower() in PHONES


class PhoneKeychain:
    """A `MemorySecretStore` (`secrets`, what the device uses) kept in step with secure storage."""

    def __init__(self, storage: AsyncSecureStorage) -> None:
        self.storage = storage
        self.secrets = MemorySecretStore()
        self._flushing = asyncio.Lock()

    async def load(self, *, attempts: int = 3, retry_delay: float = 0.5) -> MemorySecretStore:
        """Read every stored key. A client that fails is asked again; after `attempts` the error is
        raised: starting without keys would make an enrolled phone look new."""
        for attempt in range(1, attempts + 1):
            try:
                stored = await self.storage.get_all()
                break
            except Exception:
                if attempt == attempts:
                    raise
                log.warning("secure storage could not be read (attempt %d)", attempt, exc_info=True)
                await asyncio.sleep(retry_delay)
        values = {}
        for key, text in (stored or {}).items():
            name = key.removeprefix(PREFIX)
            if key.startswith(PREFIX) and _valid_name(name):
                values[name] = decode_value(text)
        self.secrets = MemorySecretStore(values)
        return self.secrets

    async def flush(self) -> bool:
        """Write what changed since the last flush. True when everything is written; on trouble the
        rest stays in `changes()` for the next flush (a key changed again meanwhile stays too)."""
        async with self._flushing:
            written: dict[str, bytes | None] = {}
            try:
                for name, value in self.secrets.changes().items():
                    if value is None:
                        await self.storage.remove(PREFIX + name)
                    else:
                        await self.storage.set(PREFIX + name, encode_value(value))
                    written[name] = value
            except Exception:
                log.warning("secure storage could not be written; will try again", exc_info=True)
            finally:
                self.secrets.mark_flushed(written)
            return not self.secrets.changes()


def _valid_name(name: str) -> bool:
    try:
        check_name(name)
    except ValueError:
        return False
    return True
