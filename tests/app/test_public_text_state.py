"""The case screen's "公开说明 / Public text" action, headless: through `CaseState` against the real
server in process. Offered to supervisors only; sent at once; offline it says nothing changed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import flet as ft

from mobile.app.i18n import Translator
from mobile.app.state.case_detail import CaseState
from mobile.app.state.session import AppSession
from mobile.app.views.case import CaseScreen
from mobile.app.views.screens import ROUTES
from mobile.app.views.shell import Shell
from tests.app.headless import NoGps, NoPictures, page, texts
from tests.app.test_states_with_server import _DeadTransport
from tests.mobile.conftest import GRID_A, Clock, Server, fix_in, jpeg


def test_a_supervisor_sets_the_public_text_from_the_case_screen_and_a_worker_is_not_offered_it(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    worker = server.device(tmp_path / "w", "zhang.wei", grids=(GRID_A,))
    case_id = worker.report(category="0101", location=fix_in(GRID_A, clock()), photos=[(jpeg(4), "before")])
    assert asyncio.run(worker.sync()).ok
    boss = server.device(tmp_path / "s", "wang.fang", role="supervisor", all_grids=True)
    assert asyncio.run(boss.sync()).ok
    assert not CaseState(worker, Translator("en"), case_id).can_edit_public_text()
    state = CaseState(boss, Translator("zh-CN"), case_id)
    assert state.can_edit_public_text()
    assert not asyncio.run(state.set_public_text("   "))
    assert state.error == "请先填写公开说明。"
    assert asyncio.run(state.set_public_text("二马路路灯不亮，已通知供电所"))
    assert (state.message, state.error) == ("公开说明已更新。", None)
    assert server.services.store.public_texts([case_id]) == {case_id: "二马路路灯不亮，已通知供电所"}


def test_offline_the_case_screen_says_nothing_changed(tmp_path: Path, server: Server, clock: Clock) -> None:
    worker = server.device(tmp_path / "w", "zhang.wei", grids=(GRID_A,))
    case_id = worker.report(category="0101", location=fix_in(GRID_A, clock()), photos=[(jpeg(5), "before")])
    assert asyncio.run(worker.sync()).ok
    code = server.add_worker("wang.fang", role="supervisor", all_grids=True)
    online = AppSession(tmp_path / "s", device_locales=["en"], clock=clock, transport=server.transport)
    asyncio.run(online.device.enroll(server.url, code))
    assert asyncio.run(online.device.sync()).ok
    secrets = online.secrets
    online.close()
    offline = AppSession(
        tmp_path / "s", device_locales=["en"], clock=clock, secrets=secrets, transport=_DeadTransport()
    )
    offline.device.retry_delay = 0.0
    state = CaseState(offline.device, offline.tr, case_id)
    assert state.can_edit_public_text()
    assert not asyncio.run(state.set_public_text("二马路路灯不亮"))
    assert state.error == "Changing the public text needs a connection; nothing was changed."
    assert server.services.store.public_text_edits() == []
    offline.close()


def test_the_case_screen_asks_for_the_public_text_in_a_dialog_and_sends_it(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    worker = server.device(tmp_path / "w", "zhang.wei", grids=(GRID_A,))
    case_id = worker.report(category="0101", location=fix_in(GRID_A, clock()), photos=[(jpeg(6), "before")])
    assert asyncio.run(worker.sync()).ok
    code = server.add_worker("wang.fang", role="supervisor", all_grids=True)
    app = AppSession(tmp_path / "boss", device_locales=["en"], clock=clock, transport=server.transport)
    asyncio.run(app.device.enroll(server.url, code))
    assert asyncio.run(app.device.sync()).ok

    async def scenario() -> None:
        shell = Shell(page(), app, routes=ROUTES, positions=NoGps(), photos=NoPictures(), export_dir=tmp_path)
        shell.show(f"/case/{case_id}")
        screen = shell.screen
        assert isinstance(screen, CaseScreen)
        assert "What the public sees about this problem. No names, phone or ID numbers." in list(
            texts(ft.Column(screen.body()))
        )
        screen._public_text(None)  # type: ignore[arg-type]
        dialog = shell.page._dialogs.controls[-1]
        assert isinstance(dialog, ft.AlertDialog) and dialog.open
        [field] = [c for c in dialog.content.controls if isinstance(c, ft.TextField)]  # type: ignore[union-attr]
        field.value = "二马路路灯不亮"
        buttons = [b for b in dialog.actions or [] if isinstance(b, ft.FilledButton | ft.TextButton)]
        assert [b.content for b in buttons] == ["Cancel", "OK"]
        await buttons[1].on_click(None)  # type: ignore[misc, arg-type]
        assert screen.state.message == "Public text updated."
        shell.stop()

    asyncio.run(scenario())
    assert server.services.store.public_texts([case_id]) == {case_id: "二马路路灯不亮"}
    app.close()
