"""One person's app: the device, their settings and the language the screens speak.

On a phone there is one session over the app's data folder. Served as a web app, every browser keeps
its own device: the browser holds a random slot id (in its local storage) and the session's data lives
under `<data>/devices/<slot>/`, so two browsers are two phones, and a reload is the same phone.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from mobile.app.i18n import LANGUAGES, Translator
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
    def __init__(
        self,
        folder: Path,
        *,
        device_locales: list[str] | None = None,
        secrets: SecretStore | None = None,
        clock: Callable[[], float] = time.time,
        transport: object | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.device_locales = list(device_locales or [])
        self.settings = AppSettings.load(self.folder)
        self.tr = Translator(self.settings.effective_language(self.device_locales))
        self.secrets = secrets if secrets is not None else FileSecretStore(self.folder / "secrets")
        self.device = Device.open(
            self.folder,
            self.secrets,
            clock=lambda: int(clock()),
            transport=transport,  # type: ignore[arg-type]
        )

    @property
    def enrolled(self) -> bool:
        return bool(self.device.enrolled)

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

    def sign_out(self, *, force: bool = False) -> None:
        self.device.sign_out(force=force)

    def close(self) -> None:
        self.device.close()


assert set(LANGUAGES) <= set(LANGUAGE_CHOICES)
