"""What the person chose on this device: language and map tiles. Kept as a small JSON file.

The language is "auto" (follow the device) unless the worker picks one. Settings are not secrets and
not case data, so they live beside the device's database, not inside it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from mobile.app.i18n import LANGUAGES, detect_language

SETTINGS_FILE = "app-settings.json"
LANGUAGE_CHOICES = ("auto", *LANGUAGES)
DEFAULT_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


@dataclass(slots=True)
class AppSettings:
    language: str = "auto"
    tile_url: str = DEFAULT_TILE_URL
    #: the server address last typed on the enroll screen, offered again after a sign-out
    last_server: str = ""

    @classmethod
    def load(cls, folder: Path) -> AppSettings:
        try:
            raw = json.loads((folder / SETTINGS_FILE).read_text("utf-8"))
        except (FileNotFoundError, ValueError):
            return cls()
        settings = cls()
        for name in ("language", "tile_url", "last_server"):
            value = raw.get(name)
            if isinstance(value, str):
                setattr(settings, name, value)
        if settings.language not in LANGUAGE_CHOICES:
            settings.language = "auto"
        return settings

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{SETTINGS_FILE}.tmp"
        temporary.write_text(json.dumps(asdict(self), ensure_ascii=False), "utf-8")
        os.replace(temporary, folder / SETTINGS_FILE)

    def effective_language(self, device_locales: list[str]) -> str:
        if self.language in LANGUAGES:
            return self.language
        return detect_language(device_locales)
