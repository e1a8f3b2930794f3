"""The phone's GPS and pictures, through Flet services, behind the small interfaces of
`mobile.app.state.adapters` (tests use fakes; the browser tests fake GPS and files in Chromium)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import flet as ft
import flet_geolocator as fg

from mobile.app.i18n import Translator
from mobile.app.state.adapters import LocationUnavailable
from mobile.core.location import Fix

UNKNOWN_ACCURACY_M = 9999.0  # a position without a stated accuracy is never "good"


class GeolocatorSource:
    """flet_geolocator, with the timeout it lacks and errors turned into words."""

    def __init__(self, tr: Translator) -> None:
        self.tr = tr
        self.geolocator = fg.Geolocator()  # a service: registers with the current page; keep the reference

    async def current(self, timeout_s: float) -> Fix:
        config = fg.GeolocatorConfiguration(accuracy=fg.GeolocatorPositionAccuracy.BEST)
        try:
            position = await asyncio.wait_for(
                self.geolocator.get_current_position(config), max(1.0, timeout_s)
            )
        except TimeoutError as exc:
            raise LocationUnavailable("no fix before the timeout", "timeout") from exc
        except RuntimeError as exc:  # no permission, location off (the client reports it, in English)
            raise LocationUnavailable.from_platform(str(exc) or type(exc).__name__) from exc
        if position.latitude is None or position.longitude is None:
            raise LocationUnavailable("a position without coordinates", "timeout")
        accuracy = float(position.accuracy) if position.accuracy else UNKNOWN_ACCURACY_M
        return Fix(float(position.latitude), float(position.longitude), accuracy, int(time.time()), "gps")


class PickerPhotoSource:
    """Pictures from the file picker (IMAGE type). In a browser the bytes come with the pick; on a
    phone or desktop the picker gives a path (on Android into a cache) that is read at once."""

    def __init__(self, picker: ft.FilePicker, *, web: bool) -> None:
        self.picker = picker
        self.web = web

    async def pick(self) -> list[bytes]:
        files = await self.picker.pick_files(
            file_type=ft.FilePickerFileType.IMAGE,
            allow_multiple=True,
            with_data=self.web,
            cancel_upload_on_window_blur=False,
        )
        out = []
        for f in files or []:
            if f.bytes is not None:
                out.append(bytes(f.bytes))
            elif f.path:
                out.append(await asyncio.to_thread(Path(f.path).read_bytes))
        return out
