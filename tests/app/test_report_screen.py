"""The report screen, headless: a denied location permission reads as words in the person's
language with what to do, each missing field's message shows in its own part of the screen, and the
message after a save says what actually happened (uploading now, or waiting for the network)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import flet as ft

from mobile.app.state.session import AppSession
from mobile.app.views.devices import GeolocatorSource
from mobile.app.views.report import ReportScreen
from mobile.app.views.screens import ROUTES
from mobile.app.views.shell import Shell
from tests.app.headless import NoGps, NoPictures, page, texts
from tests.app.test_states_with_server import _DeadTransport, one_background_round
from tests.mobile.conftest import GRID_A, Clock, Server, fix_in, jpeg


class DeniedGeolocator:
    """What the browser's geolocation answers when the person said no (the text Chromium gives)."""

    async def get_current_position(self, configuration: Any = None) -> Any:
        raise RuntimeError("Location permission denied: User denied Geolocation.")


def shell_for(app: AppSession, tmp_path: Path, positions: Any) -> Shell:
    return Shell(page(), app, routes=ROUTES, positions=positions, photos=NoPictures(), export_dir=tmp_path)


def section_texts(screen: ReportScreen) -> dict[str, list[str]]:
    """The words of each keyed part of the screen."""
    out = {}
    for control in screen.body():
        key = getattr(control, "key", None)
        if isinstance(key, ft.ScrollKey):
            out[str(key.value)] = list(texts(control))
    return out


def test_a_denied_location_permission_says_what_to_do_in_chinese(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    app = AppSession(tmp_path / "phone", device_locales=["zh-CN"], clock=clock, transport=server.transport)
    asyncio.run(app.device.enroll(server.url, server.add_worker("zhang.wei", grids=(GRID_A,))))

    async def scenario() -> None:
        made = page()
        gps = GeolocatorSource(app.tr)
        gps.geolocator = DeniedGeolocator()  # type: ignore[assignment]  # the platform's answer, faked
        shell = Shell(made, app, routes=ROUTES, positions=gps, photos=NoPictures(), export_dir=tmp_path)
        shell.show("/report")
        screen = shell.screen
        assert isinstance(screen, ReportScreen)
        await screen.locate()
        shown = section_texts(screen)["location"]
        assert app.tr.t("report.gps.denied") in shown, shown
        assert not any("denied" in t or "Geolocation" in t for t in shown), shown
        assert "允许" in app.tr.t("report.gps.denied")  # it says what to do
        shell.stop()

    asyncio.run(scenario())
    app.close()


def test_each_missing_field_is_named_in_its_own_part_of_the_screen(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    app = AppSession(tmp_path / "phone", device_locales=["en"], clock=clock, transport=server.transport)
    asyncio.run(app.device.enroll(server.url, server.add_worker("zhang.wei", grids=(GRID_A,))))

    async def scenario() -> None:
        shell = shell_for(app, tmp_path, NoGps())
        shell.show("/report")
        screen = shell.screen
        assert isinstance(screen, ReportScreen)
        await screen._save(None)  # type: ignore[arg-type]  # "Save report" with nothing filled in
        parts = section_texts(screen)
        assert "Choose a category." in parts["category"]
        assert "Add at least one photo." in parts["photos"]
        assert "Get or pin a position first." in parts["location"]
        assert not any("Choose a category." in words for key, words in parts.items() if key != "category")
        assert app.device.cases() == []
        shell.stop()

    asyncio.run(scenario())
    app.close()


def saved_toast(shell: Shell) -> str:
    bars = [d for d in shell.page._dialogs.controls if isinstance(d, ft.SnackBar)]
    return str(bars[-1].content.value)  # type: ignore[union-attr]


def test_the_message_after_saving_says_whether_it_is_uploading_or_waiting_for_the_network(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    code = server.add_worker("zhang.wei", grids=(GRID_A,))
    online = AppSession(tmp_path / "phone", device_locales=["en"], clock=clock, transport=server.transport)
    asyncio.run(online.device.enroll(server.url, code))
    assert asyncio.run(one_background_round(online)).reached_server

    async def save_one(app: AppSession) -> str:
        shell = shell_for(app, tmp_path, NoGps())
        shell.show("/report")
        screen = shell.screen
        assert isinstance(screen, ReportScreen)
        here = fix_in(GRID_A)
        screen.state.pin(here.lat, here.lon)
        screen.state.pick_category("0101")
        screen.state.add_photo(jpeg(1))
        await screen._save(None)  # type: ignore[arg-type]
        assert screen.state.saved_case_id is not None
        shell.stop()
        return saved_toast(shell)

    assert asyncio.run(save_one(online)) == "Saved. Uploading now."
    secrets = online.secrets
    online.close()
    offline = AppSession(
        tmp_path / "phone", device_locales=["en"], clock=clock, secrets=secrets, transport=_DeadTransport()
    )
    assert not asyncio.run(one_background_round(offline)).reached_server
    said = asyncio.run(save_one(offline))
    assert said.startswith("Saved on this phone. The server cannot be reached now"), said
    offline.close()


def test_the_floating_main_action_leaves_room_under_the_last_card(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    from mobile.app.views import widgets

    app = AppSession(tmp_path / "phone", device_locales=["en"], clock=clock, transport=server.transport)
    asyncio.run(app.device.enroll(server.url, server.add_worker("zhang.wei", grids=(GRID_A,))))

    async def scenario() -> None:
        shell = shell_for(app, tmp_path, NoGps())
        for route in ("/home", "/report"):  # a worker's screens with a floating main action
            shell.show(route)
            assert shell.screen is not None and shell.screen.floating() is not None
            assert shell._column is not None
            room = shell._column.controls[-1]
            assert isinstance(room, ft.Container) and not list(texts(room))
            assert (room.height or 0) >= widgets.BIG + 24  # the action's height and its margin
        shell.stop()

    asyncio.run(scenario())
    app.close()
