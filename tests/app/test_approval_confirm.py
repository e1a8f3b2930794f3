"""Approving a closure is asked again first: the tap opens a confirmation, nothing is saved until
it is confirmed, and a cancel leaves the case as it was."""

from __future__ import annotations

import asyncio
from pathlib import Path

import flet as ft

from mobile.app.state.session import AppSession
from mobile.app.views.case import CaseScreen
from mobile.app.views.screens import ROUTES
from mobile.app.views.shell import Shell
from tests.app.headless import NoGps, NoPictures, page, texts
from tests.mobile.conftest import GRID_A, Clock, Server, fix_in, jpeg


def test_approving_a_closure_asks_first_and_saves_only_when_confirmed(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    worker = server.device(tmp_path / "w", "zhang.wei", grids=(GRID_A,))
    case_id = worker.report(
        category="0101",
        location=fix_in(GRID_A, clock()),
        photos=[(jpeg(1), "before"), (jpeg(2), "after")],
        on_spot=True,
    )
    asyncio.run(worker.sync())
    code = server.add_worker("wang.fang", role="supervisor", all_grids=True)
    app = AppSession(tmp_path / "boss", device_locales=["en"], clock=clock, transport=server.transport)
    asyncio.run(app.device.enroll(server.url, code))
    asyncio.run(app.device.sync())

    async def scenario() -> None:
        shell = Shell(page(), app, routes=ROUTES, positions=NoGps(), photos=NoPictures(), export_dir=tmp_path)
        shell.show(f"/case/{case_id}")
        screen = shell.screen
        assert isinstance(screen, CaseScreen)
        close = next(a for a in screen.state.actions() if a.action == "close")
        assert close.confirm == "Approving closes the case for everyone. Approve the closure?"
        await screen._act(close)
        assert app.device.case(case_id).case.status == "reported"  # type: ignore[union-attr]
        dialog = shell.page._dialogs.controls[-1]
        assert isinstance(dialog, ft.AlertDialog) and dialog.open
        assert close.confirm in list(texts(dialog.content))
        buttons = [b for b in dialog.actions or [] if isinstance(b, ft.FilledButton | ft.TextButton)]
        assert [b.content for b in buttons] == ["Cancel", "Approve closure"]
        assert all((b.height or 0) >= 48 for b in buttons)
        await buttons[1].on_click(None)  # type: ignore[misc, arg-type]
        assert app.device.case(case_id).case.status == "closed"  # type: ignore[union-attr]
        shell.stop()

    asyncio.run(scenario())
    app.close()
