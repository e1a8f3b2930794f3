"""What every screen shares: access to the session, its words, and a way to redraw itself.

Screens are drawn inside a `Frame` (the shell satisfies it) and know nothing more of it; the shell
knows no screen either: it is handed a `RouteTable` when the app starts (see `screens.py`). So the
imports run one way: shell -> screen <- every screen <- screens <- main.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import flet as ft

if TYPE_CHECKING:
    from mobile.app.state.adapters import PhotoSource, PositionSource
    from mobile.app.state.session import AppSession
    from mobile.core.device import Device


class Frame(Protocol):
    """What a screen may ask of the frame it is drawn in."""

    page: ft.Page
    session: AppSession
    positions: PositionSource
    photos: PhotoSource
    camera: PhotoSource | None
    export_dir: Path
    file_picker: ft.FilePicker | None
    device_name: str

    def go(self, route: str) -> None: ...
    def redraw(self, screen: Screen | None = None) -> None: ...
    def toast(self, text: str, *, error: bool = False) -> None: ...
    def scroll_to(self, key: str) -> None: ...
    def enrolled(self) -> None: ...
    def signed_out(self) -> None: ...
    def language_changed(self) -> None: ...


@dataclass(frozen=True)
class RouteTable:
    """Which screen draws which route: `screens` by route, `case` for /case/<id>, `fallback` for
    anything else."""

    screens: Mapping[str, Callable[[Frame], Screen]]
    case: Callable[[Frame, str], Screen]
    fallback: Callable[[Frame], Screen]

    def screen(self, frame: Frame, route: str) -> Screen:
        if route.startswith("/case/"):
            return self.case(frame, route.removeprefix("/case/"))
        return self.screens.get(route, self.fallback)(frame)


class Screen:
    route = "/"
    nav_key = ""  # which bottom-bar tab it belongs to
    #: drawn again after every sync round; a screen holding half-typed input says no (only its bar is)
    redraw_after_sync = True

    def __init__(self, shell: Frame) -> None:
        self.shell = shell

    @property
    def session(self) -> AppSession:
        return self.shell.session

    @property
    def device(self) -> Device:
        return self.shell.session.device

    @property
    def page(self) -> ft.Page:
        return self.shell.page

    def t(self, key: str, **values: Any) -> str:
        return self.shell.session.tr.t(key, **values)

    def title(self) -> str:
        return self.t("app.title")

    def body(self) -> list[ft.Control]:
        raise NotImplementedError

    def floating(self) -> ft.Control | None:
        return None

    async def shown(self) -> None:
        """Called once the screen is on the page (start a GPS fix, load something slow)."""

    async def link_opened(self, link: str) -> None:
        """An enrollment link reached the app while this screen is shown (only enrollment acts)."""

    def redraw(self) -> None:
        self.shell.redraw(self)
