"""The shell on a headless page (no Flutter client): it starts background sync, syncs when the app
comes back to the foreground, keeps the keys when the app leaves it, and the sync screen shows a
round asked for until it ends."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import flet as ft

from mobile.app.state.keychain import PREFIX, PhoneKeychain
from mobile.app.state.session import AppSession
from mobile.app.views.screens import ROUTES
from mobile.app.views.shell import Shell
from mobile.core.identity import SIGNING_SECRET
from tests.app.headless import NoGps, NoPictures, has, page, texts
from tests.app.test_background_sync import until
from tests.app.test_keychain import FakeSecureStorage
from tests.mobile.conftest import GRID_A, Clock, Server, fix_in


def lifecycle(state: ft.AppLifecycleState) -> SimpleNamespace:
    return SimpleNamespace(state=state)


def test_the_shell_syncs_on_start_on_resume_and_on_demand_and_keeps_keys_when_the_app_leaves(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    storage = FakeSecureStorage()
    keychain = PhoneKeychain(storage)
    asyncio.run(keychain.load())
    app = AppSession(
        tmp_path / "phone", device_locales=["en"], keychain=keychain, clock=clock, transport=server.transport
    )
    asyncio.run(app.device.enroll(server.url, server.add_worker("zhang.wei", grids=(GRID_A,))))
    assert keychain.secrets.changes()  # the new keys are not in secure storage yet
    loop = app.background.loop

    async def scenario() -> None:
        shell = Shell(
            page(), app, routes=ROUTES, positions=NoGps(), photos=NoPictures(), export_dir=tmp_path / "out"
        )
        shell.start()
        assert shell.page.on_app_lifecycle_state_change is not None
        await until(lambda: loop.rounds == 1 and not loop.busy)  # on start

        await shell.page.on_app_lifecycle_state_change(lifecycle(ft.AppLifecycleState.RESUME))  # type: ignore[arg-type, misc]
        await until(lambda: loop.rounds == 2 and not loop.busy)

        await shell.page.on_app_lifecycle_state_change(lifecycle(ft.AppLifecycleState.PAUSE))  # type: ignore[arg-type, misc]
        assert PREFIX + SIGNING_SECRET in storage.values and not keychain.secrets.changes()

        shell.show("/sync")
        assert shell.screen is not None and shell._column is not None
        app.device.report(category="0101", location=fix_in(GRID_A, clock()))
        shell.screen._sync(None)  # type: ignore[attr-defined]  # "Sync now"
        assert has(shell._column, ft.ProgressBar)  # drawn at once
        await until(lambda: not app.background.showing_round)
        assert not has(shell._column, ft.ProgressBar)  # and gone when the round ended
        shown = list(texts(shell._column))
        assert "Everything is uploaded." in shown
        assert any(t.startswith("Synced: sent 1") for t in shown), shown

        shell.stop()
        await app.aclose()

    asyncio.run(scenario())
