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
import flet_secure_storage as fss

from mobile.app.i18n import Translator, detect_language
from mobile.app.state.keychain import AsyncSecureStorage, PhoneKeychain, uses_secure_storage
from mobile.app.state.session import AppSession, slot_folder
from mobile.app.views import widgets
from mobile.app.views.camera import CameraPhotoSource, camera_supported
from mobile.app.views.devices import GeolocatorSource, PickerPhotoSource
from mobile.app.views.screens import ROUTES
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
#: The app's assets. The repository root is the app path of `flet build` ([tool.flet.app] path = "."),
#: which makes the launcher icons from `assets/icon.png` (drawn by build/make_icon.py).
ASSETS = Path(__file__).resolve().parents[2] / "assets"
#: Served as a web app, the icons Flet's page and web manifest name, made from the same icon.
WEB_ICONS = {
    "favicon.png": 64,
    "icons/apple-touch-icon-192.png": 192,
    "icons/icon-192.png": 192,
    "icons/icon-512.png": 512,
    "icons/icon-maskable-192.png": 192,
    "icons/icon-maskable-512.png": 512,
}


def data_root() -> Path:
    given = os.environ.get(DATA_ENV)
    return Path(given) if given else Path.home() / ".local" / "share" / "gridsync"


class SessionRegistry:
    """One open AppSession per device folder, shared by the pages (tabs) that use it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[Path, tuple[AppSession, int]] = {}

    def _reuse(self, folder: Path, storage: AsyncSecureStorage | None) -> AppSession | None:
        with self._lock:
            session, users = self._open.get(folder, (None, 0))
            if session is None:
                return None
            self._open[folder] = (session, users + 1)
        if storage is not None and session.keychain is not None:
            session.keychain.storage = storage  # write through the service of the page that is alive
        return session

    async def acquire(
        self, folder: Path, locales: list[str], storage: AsyncSecureStorage | None = None
    ) -> AppSession:
        """The session of `folder`, opened if needed. With `storage` (a phone), the device's keys come
        from, and go back to, the platform's secure storage; without, from owner-only files."""
        found = self._reuse(folder, storage)
        if found is not None:
            return found
        keychain = None
        if storage is not None:
            keychain = PhoneKeychain(storage)
            await keychain.load()
            found = self._reuse(folder, storage)  # another page opened it while the keys were read
            if found is not None:
                return found
        session = AppSession(folder, device_locales=locales, keychain=keychain)
        with self._lock:
            self._open[folder] = (session, 1)
        return session

    async def release(self, folder: Path) -> None:
        with self._lock:
            session, users = self._open.get(folder, (None, 0))
            if session is None:
                return
            if users > 1:
                self._open[folder] = (session, users - 1)
                return
            del self._open[folder]
        await session.aclose()


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
    """The folder the web server serves: the app's assets, icons in the sizes a browser asks for, and
    a Chinese font when one is found. Flet serves these before its own (favicon, web-app icons)."""
    folder = data_root() / "web-assets"
    (folder / "fonts").mkdir(parents=True, exist_ok=True)
    for item in ASSETS.iterdir():
        if item.is_file() and not item.name.startswith("."):
            shutil.copyfile(item, folder / item.name)
    icon = ASSETS / "icon.png"
    if icon.is_file():
        web_icons(icon, folder)
    local_rive(folder)
    font = cjk_font()
    target = folder / WEB_FONT
    if font is not None and (not target.exists() or target.stat().st_size != font.stat().st_size):
        shutil.copyfile(font, target)
    return folder


#: Flet's web client loads Rive's runtime (animations gridsync does not use) from jsDelivr.
RIVE_CDN = b"https://cdn.jsdelivr.net/npm/@rive-app/flutter-native-wasm@44.0.0/"
#: the same length, so the compiled client (JS or WebAssembly) stays valid: `./././…/rive/`, a path
#: on the app's own server (nothing is there, so Rive stays off, as it does offline)
_RIVE_DIR = b"rive/" if (len(RIVE_CDN) - len(b"rive/")) % 2 == 0 else b"rive_/"
RIVE_LOCAL = b"./" * ((len(RIVE_CDN) - len(_RIVE_DIR)) // 2) + _RIVE_DIR
CLIENT_FILES = ("main.dart.js", "main.dart.wasm")
assert len(RIVE_LOCAL) == len(RIVE_CDN)


def local_rive(folder: Path) -> None:
    """Copies of the web client that ask this server, not a CDN, for `rive_native.js` (the web
    server serves the assets folder before its own files)."""
    from flet_web import get_package_web_dir  # the web server's package; a phone build has none

    for name in CLIENT_FILES:
        source = Path(get_package_web_dir()) / name
        target = folder / name
        if not source.is_file() or (target.exists() and target.stat().st_mtime >= source.stat().st_mtime):
            continue
        data = source.read_bytes()
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(data.replace(RIVE_CDN, RIVE_LOCAL))
        os.replace(tmp, target)


def web_icons(icon: Path, folder: Path) -> None:
    from PIL import Image  # only the web server needs it here; a phone build does not run this

    with Image.open(icon) as source:
        picture = source.convert("RGB")
    for name, size in WEB_ICONS.items():
        target = folder / name
        if target.exists() and target.stat().st_mtime >= icon.stat().st_mtime:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        picture.resize((size, size), Image.Resampling.LANCZOS).save(target, optimize=True)


async def main(page: ft.Page) -> None:
    if page.web and (data_root() / "web-assets" / WEB_FONT).exists():
        page.fonts = {"CJK": "/" + WEB_FONT}
        widgets.FONT_FAMILY = "CJK"
    page.theme = widgets.theme()
    page.theme_mode = ft.ThemeMode.LIGHT
    page.padding = 0
    prefs = ft.SharedPreferences()
    picker = ft.FilePicker()
    platform = page.platform.value if page.platform else None
    storage = fss.SecureStorage() if uses_secure_storage(platform, web=page.web) else None
    locales = await _locales(page)
    folder = await _device_folder(page, prefs)
    try:
        session = await REGISTRY.acquire(folder, locales, storage)
    except Exception:
        if storage is None:
            raise
        # Never start without the keys the phone has: it would look new and a new enrollment would
        # replace them. Say so and stop here.
        tr = Translator(detect_language(locales))
        page.add(ft.Container(ft.Text(tr.t("app.keys_unreadable"), size=18), padding=24))
        raise
    page.title = session.tr.t("app.title")
    shell = Shell(
        page,
        session,
        routes=ROUTES,
        positions=GeolocatorSource(session.tr),
        photos=PickerPhotoSource(picker, web=page.web),
        camera=CameraPhotoSource(page, session.tr) if camera_supported(platform, web=page.web) else None,
        export_dir=folder / "exports",
        file_picker=picker,
        device_name=f"{page.platform.value if page.platform else 'web'}" + (" browser" if page.web else ""),
    )
    # strong references for the services (dropped otherwise)
    page.data = {"shell": shell, "services": (prefs, picker, storage)}

    async def closed(e: ft.Event) -> None:
        shell.stop()
        await REGISTRY.release(folder)

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
    assets = web_assets() if args.web else ASSETS
    ft.run(main, view=view, port=args.port, no_cdn=True, assets_dir=str(assets))


if __name__ == "__main__":
    run()
