"""A supervisor's case screen offers the server's possible duplicates and links one, asked first: a
case linked as a duplicate ends its handling, so nothing is saved until the link is confirmed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flet as ft

from mobile.app.state.session import AppSession
from mobile.app.views.case import CaseScreen
from mobile.app.views.screens import ROUTES
from mobile.app.views.shell import Shell
from mobile.core.location import Fix
from tests.app.headless import NoGps, NoPictures, page, texts
from tests.mobile.conftest import GRID_A, Clock, Server, fix_in


def _buttons(control: Any) -> Iterator[ft.OutlinedButton]:
    if isinstance(control, ft.OutlinedButton):
        yield control
    for child in getattr(control, "controls", None) or []:
        yield from _buttons(child)
    content = getattr(control, "content", None)
    if content is not None and not isinstance(content, str):
        yield from _buttons(content)


def test_the_supervisor_sees_the_nearby_report_and_links_only_once_confirmed(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    worker = server.device(tmp_path / "w", "zhang.wei", grids=(GRID_A,))
    centre = fix_in(GRID_A, clock())
    first = worker.report(category="0101", location=centre, description="井盖破损")
    asyncio.run(worker.sync())
    second = worker.report(
        category="0101",
        location=Fix(centre.lat, centre.lon + 0.0001, 8.0, clock(), "gps"),
        description="又一处",
    )
    asyncio.run(worker.sync())
    code = server.add_worker("wang.fang", role="supervisor", all_grids=True)
    app = AppSession(tmp_path / "boss", device_locales=["en"], clock=clock, transport=server.transport)
    asyncio.run(app.device.enroll(server.url, code))
    asyncio.run(app.device.sync())

    async def scenario() -> None:
        shell = Shell(page(), app, routes=ROUTES, positions=NoGps(), photos=NoPictures(), export_dir=tmp_path)
        shell.show(f"/case/{second}")
        screen = shell.screen
        assert isinstance(screen, CaseScreen)
        body = screen.body()
        shown = [t for control in body for t in texts(control)]
        assert "Possible duplicates" in shown and "井盖破损" in " ".join(shown)
        [link] = [b for control in body for b in _buttons(control) if b.content == "This case duplicates it"]
        link.on_click(None)  # type: ignore[misc, arg-type]
        dialog = shell.page._dialogs.controls[-1]
        assert isinstance(dialog, ft.AlertDialog) and dialog.open
        buttons = [b for b in dialog.actions or [] if isinstance(b, ft.FilledButton | ft.TextButton)]
        assert [b.content for b in buttons] == ["Cancel", "Link as duplicate"]
        buttons[0].on_click(None)  # type: ignore[misc, arg-type]
        assert app.device.case(second).case.status == "reported"  # type: ignore[union-attr]
        link.on_click(None)  # type: ignore[misc, arg-type]
        confirm = [
            b
            for b in shell.page._dialogs.controls[-1].actions
            if isinstance(b, ft.FilledButton | ft.TextButton)
        ]
        confirm[1].on_click(None)  # type: ignore[misc, arg-type]
        assert app.device.case(second).case.status == "duplicate"  # type: ignore[union-attr]
        assert "Possible duplicates" not in [t for control in screen.body() for t in texts(control)]
        shell.stop()

    asyncio.run(scenario())
    assert asyncio.run(app.device.sync()).ok
    assert server.case(second).duplicate_of == first
    app.close()
