"""One person's app: the device, its keys and background sync, the person's settings, and the
language (and city clock) the screens speak.

On a phone there is one session over the app's data folder. Served as a web app, every browser keeps
its own device: the browser holds a random slot id (in its local storage) and the session's data lives
under `<data>/devices/<slot>/`, so two browsers are two phones, and a reload is the same phone.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path

from mobile.app.i18n import CHINA_STANDARD_TIME, LANGUAGES, Translator, city_zone
from mobile.app.state.background import BackgroundSync
from mobile.app.state.keychain import PhoneKeychain
from mobile.app.state.settings import LANGUAGE_CHOICES, AppSettings
from mobile.core.device import Device
from mobile.core.secrets import FileSecretStore, SecretStore

_SLOT = re.compile(r"[0-9a-f]{32}")


def slot_folder(data_root: Path, slot: str) -> Path:
    """The folder of one browser's device; the slot id comes from the browser, so check it."""
    if not _SLOT.fullmatch(slot):
        raise ValueError("bad device slot id")
    return data_root / "devices" / slot


class AppSession:
    """Keys: a phone passes a loaded `PhoneKeychain` (secure storage); otherwise they go to
    `secrets`, by default owner-only files in `<folder>/secrets`."""

    def __init__(
        self,
        folder: Path,
        *,
        device_locales: list[str] | None = None,
        secrets: SecretStore | None = None,
        keychain: PhoneKeychain | None = None,
        clock: Callable[[], float] = time.time,
        transport: object | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.device_locales = list(device_locales or [])
        self.settings = AppSettings.load(self.folder)
        self.tr = Translator(self.settings.effective_language(self.device_locales), zone=self.city_zone)
        self.keychain = keychain
        if keychain is not None:
            self.secrets: SecretStore = keychain.secrets
        else:
            self.secrets = secrets if secrets is not None else FileSecretStore(self.folder / "secrets")
        self.device = Device.open(
            self.folder,
            self.secrets,
            clock=lambda: int(clock()),
            transport=transport,  # type: ignore[arg-type]
        )
        self.background = BackgroundSync(self.device)

    @property
    def enrolled(self) -> bool:
        return bool(self.device.enrolled)

    def city_zone(self) -> tzinfo:
        """The city's clock, from the working calendar enrollment brought (China before that)."""
        calendar = self.device.calendar()
        return CHINA_STANDARD_TIME if calendar is None else city_zone(calendar.utc_offset_minutes)

    async def save_keys(self) -> bool:
        """Write changed keys to the phone's secure storage (nothing to do with file-kept keys).
        True when none are left unwritten."""
        return True if self.keychain is None else await self.keychain.flush()

    async def after_enrollment(self) -> None:
        """Keep the new keys before anything else can go wrong, then start syncing."""
        await self.save_keys()
        self.background.start()

    def set_language(self, choice: str) -> None:
        if choice not in LANGUAGE_CHOICES:
            raise ValueError(choice)
        self.settings.language = choice
        self.settings.save(self.folder)
        self.tr.lang = self.settings.effective_language(self.device_locales)

    def set_tile_url(self, url: str) -> None:
        self.settings.tile_url = url.strip()
        self.settings.save(self.folder)

    def remember_server(self, url: str) -> None:
        self.settings.last_server = url
        self.settings.save(self.folder)

    async def sign_out(self, *, force: bool = False) -> None:
        """Stop syncing first: a round must not run on a store being wiped."""
        await self.background.stop()
        try:
            self.device.sign_out(force=force)
        except Exception:
            self.background.start()
            raise
        await self.save_keys()

    async def aclose(self) -> None:
        await self.background.stop()
        await self.save_keys()
        self.close()

    def close(self) -> None:
        self.device.close()


assert set(LANGUAGES) <= set(LANGUAGE_CHOICES)
