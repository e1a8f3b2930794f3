"""What every screen shares: access to the session, its words, and a way to redraw itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import flet as ft

if TYPE_CHECKING:
    from mobile.app.state.session import AppSession
    from mobile.app.views.shell import Shell
    from mobile.core.device import Device


class Screen:
    route = "/"
    nav_key = ""  # which bottom-bar tab it belongs to
    #: drawn again after every sync round; a screen holding half-typed input says no (only its bar is)
    redraw_after_sync = True

    def __init__(self, shell: Shell) -> None:
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

    def redraw(self) -> None:
        self.shell.redraw(self)
