"""The app's entry point: `python -m mobile.app` (web mode, no CDN, when there is no display) or
`flet run` / `flet build` with this file as the module.

Served as a web app, every browser is its own phone: a random slot id kept in the browser's local
storage names the device folder `<data>/devices/<slot>/` (see `state/session.py`). Two tabs of one
browser share one device; a reload keeps it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import uuid
from pathlib import Path

import flet as ft

from mobile.app.state.session import AppSession, slot_folder
from mobile.app.views import widgets
from mobile.app.views.devices import GeolocatorSource, PickerPhotoSource
from mobile.app.views.shell import Shell

DATA_ENV = "FLET_APP_STORAGE_DATA"
SLOT_KEY = "gridsync.device_slot"
FONT_ENV = "GRIDSYNC_CJK_FONT"
#: Chinese fonts a Debian/Ubuntu machine may have (apt: fonts-droid-fallback is the smallest, 4 MB).
#: A phone has its own; in a browser with no CDN Flutter has none, so the web server hands one over.
CJK_FONTS = (
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)
WEB_FONT = "fonts/cjk.ttf"


def data_root() -> Path:
    given = os.environ.get(DATA_ENV)
    return Path(given) if given else Path.home() / ".local" / "share" / "gridsync"


class SessionRegistry:
    """One open AppSession per device folder, shared by the pages (tabs) that use it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[Path, tuple[AppSession, int]] = {}

    def acquire(self, folder: Path, locales: list[str]) -> AppSession:
        with self._lock:
            session, users = self._open.get(folder, (None, 0))
            if session is None:
                session = AppSession(folder, device_locales=locales)
            self._open[folder] = (session, users + 1)
            return session

    def release(self, folder: Path) -> None:
        with self._lock:
            session, users = self._open.get(folder, (None, 0))
            if session is None:
                return
            if users <= 1:
                del self._open[folder]
                session.close()
            else:
                self._open[folder] = (session, users - 1)


REGISTRY = SessionRegistry()


async def _locales(page: ft.Page) -> list[str]:
    with contextlib.suppress(Exception):
        info = await page.get_device_info()
        found = []
        for loc in getattr(info, "locales", None) or []:
            code = getattr(loc, "language_code", "") or ""
            script = getattr(loc, "script_code", "") or ""
            country = getattr(loc, "country_code", "") or ""
            found.append("-".join(p for p in (code, script, country) if p))
        return found
    return []


async def _device_folder(page: ft.Page, prefs: ft.SharedPreferences) -> Path:
    root = data_root()
    if not page.web:
        return root
    slot = None
    with contextlib.suppress(Exception):
        slot = await prefs.get(SLOT_KEY)
    if not isinstance(slot, str) or len(slot) != 32:
        slot = uuid.uuid4().hex
        with contextlib.suppress(Exception):
            await prefs.set(SLOT_KEY, slot)
    return slot_folder(root, slot)


def cjk_font() -> Path | None:
    for candidate in (os.environ.get(FONT_ENV, ""), *CJK_FONTS):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def web_assets() -> Path:
    """The folder the web server serves: the app's assets plus a Chinese font when one is found."""
    folder = data_root() / "web-assets"
    (folder / "fonts").mkdir(parents=True, exist_ok=True)
    for item in (Path(__file__).parent / "assets").iterdir():
        if item.is_file() and not item.name.startswith("."):
            shutil.copyfile(item, folder / item.name)
    font = cjk_font()
    target = folder / WEB_FONT
    if font is not None and (not target.exists() or target.stat().st_size != font.stat().st_size):
        shutil.copyfile(font, target)
    return folder


async def main(page: ft.Page) -> None:
    if page.web and (data_root() / "web-assets" / WEB_FONT).exists():
        page.fonts = {"CJK": "/" + WEB_FONT}
        widgets.FONT_FAMILY = "CJK"
    page.theme = widgets.theme()
    page.theme_mode = ft.ThemeMode.LIGHT
    page.padding = 0
    prefs = ft.SharedPreferences()
    picker = ft.FilePicker()
    locales = await _locales(page)
    folder = await _device_folder(page, prefs)
    session = REGISTRY.acquire(folder, locales)
    page.title = session.tr.t("app.title")
    shell = Shell(
        page,
        session,
        positions=GeolocatorSource(session.tr),
        photos=PickerPhotoSource(picker, web=page.web),
        export_dir=folder / "exports",
        file_picker=picker,
        device_name=f"{page.platform.value if page.platform else 'web'}" + (" browser" if page.web else ""),
    )
    page.data = {"shell": shell, "services": (prefs, picker)}  # strong references for the services

    def closed(e: ft.Event) -> None:
        shell.stop()
        REGISTRY.release(folder)

    page.on_close = closed
    shell.start()


def run(argv: list[str] | None = None) -> None:
    """`python -m mobile.app [--web] [--port N] [--host H]`: with --web, serve the app to browsers
    (no CDN: it renders with no internet) and never try to open one."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m mobile.app")
    parser.add_argument(
        "--web", action="store_true", help="serve to browsers (default on a headless machine)"
    )
    parser.add_argument("--port", type=int, default=8550)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    if args.web:
        os.environ["FLET_FORCE_WEB_SERVER"] = "1"  # serve only: never open a browser
        os.environ.setdefault("FLET_SERVER_IP", args.host)
    view = ft.AppView.WEB_BROWSER if args.web else ft.AppView.FLET_APP
    assets = web_assets() if args.web else Path(__file__).parent / "assets"
    ft.run(main, view=view, port=args.port, no_cdn=True, assets_dir=str(assets))


if __name__ == "__main__":
    run()
