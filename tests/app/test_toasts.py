"""Toasts (the shell's SnackBars) on a headless page: one ends when the person moves to another
screen, and the page never holds one open past its time — a client that connects again (a reload,
the app opened again at an address) is sent the page as it stands and would show it once more.

Seen in Chromium before these rules: "Server address and code read from the link." shown again on
the sync screen after a reload there, long after the enrollment (and in a README screenshot)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import flet as ft
import pytest

from mobile.app.state.session import AppSession
from mobile.app.views import shell as shell_module
from mobile.app.views.enroll import EnrollScreen
from mobile.app.views.screens import ROUTES
from mobile.app.views.shell import Shell
from shared.enrollment import enroll_link
from tests.app.headless import NoGps, NoPictures, page
from tests.mobile.conftest import GRID_A, Clock, Server

LINK_READ = "Server address and code read from the link."


def shell_of(app: AppSession, tmp_path: Path) -> Shell:
    return Shell(page(), app, routes=ROUTES, positions=NoGps(), photos=NoPictures(), export_dir=tmp_path)


def enrolled_app(tmp_path: Path, server: Server, clock: Clock) -> AppSession:
    app = AppSession(tmp_path / "phone", device_locales=["en"], clock=clock, transport=server.transport)
    asyncio.run(app.device.enroll(server.url, server.add_worker("zhang.wei", grids=(GRID_A,))))
    return app


def open_toasts(shell: Shell) -> list[str]:
    return [
        str(bar.content.value)  # type: ignore[union-attr]
        for bar in shell.page._dialogs.controls
        if isinstance(bar, ft.SnackBar) and bar.open
    ]


def test_the_link_read_toast_ends_when_the_phone_moves_on_from_enrollment(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    code = server.add_worker("zhang.wei", grids=(GRID_A,))
    link = enroll_link(server.url, code, server.services.keys.public.signing_key_id)
    app = AppSession(tmp_path / "phone", device_locales=["en"], clock=clock, transport=server.transport)

    async def scenario() -> None:
        shell = shell_of(app, tmp_path)
        shell.show("/enroll")
        screen = shell.screen
        assert isinstance(screen, EnrollScreen)
        screen._link.value = link
        screen._use_link(None)  # type: ignore[arg-type]  # "Use link"
        assert open_toasts(shell) == [LINK_READ]
        await screen._submit(None)  # "Enroll": the same screen, drawn again with the welcome
        assert app.enrolled and open_toasts(shell) == [LINK_READ]
        screen._continue(None)  # type: ignore[arg-type]  # "Start work"
        assert shell.route == "/home"
        assert open_toasts(shell) == []
        shell.stop()
        await app.aclose()

    asyncio.run(scenario())


def test_a_new_toast_ends_the_one_before_and_a_redraw_keeps_it(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    app = enrolled_app(tmp_path, server, clock)

    async def scenario() -> None:
        shell = shell_of(app, tmp_path)
        shell.show("/sync")
        shell.toast("first")
        shell.toast("second")
        assert open_toasts(shell) == ["second"]
        shell.redraw()
        shell.show("/sync")  # the same screen (a language change draws it so)
        assert open_toasts(shell) == ["second"]
        shell.show("/settings")
        assert open_toasts(shell) == []
        await app.aclose()

    asyncio.run(scenario())
    app.close()


def test_the_page_holds_a_toast_no_client_ended_no_longer_than_its_time(
    tmp_path: Path, server: Server, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A headless page has no client: nothing ever reports the toast closed, as after a reload."""
    monkeypatch.setattr(shell_module, "TOAST_KEPT_S", 0, raising=False)
    app = enrolled_app(tmp_path, server, clock)

    async def scenario() -> None:
        shell = shell_of(app, tmp_path)
        shell.show("/sync")
        shell.toast("Saved. Uploading now.")
        assert open_toasts(shell) == ["Saved. Uploading now."]
        for _ in range(5):  # the expiry task runs on this loop: let it have its turns
            await asyncio.sleep(0)
        assert open_toasts(shell) == []
        await app.aclose()

    asyncio.run(scenario())
    app.close()
