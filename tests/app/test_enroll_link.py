"""Enrolling from a scanned QR code: the link reaches the app as a route, the app enrolls with it and
pins the server key it names; a demo server's address is offered to a new phone."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import quote

import pytest

from mobile.app.state.enroll import DEFAULT_SERVER_ENV, enroll_link_in_route
from mobile.app.state.session import AppSession
from mobile.app.views.enroll import EnrollScreen
from mobile.app.views.screens import ROUTES
from mobile.app.views.shell import Shell
from shared.enrollment import enroll_link
from tests.app.headless import NoGps, NoPictures, page, texts
from tests.app.test_background_sync import until
from tests.mobile.conftest import GRID_A, Clock, Server

FP = "0123456789abcdef"


def test_a_deep_link_route_or_a_query_carries_the_enrollment_link_and_other_routes_do_not() -> None:
    link = enroll_link("https://grid.example.cn", "ABCD-EFGH-JKLM", FP)
    query = link.split("?", 1)[1]
    assert enroll_link_in_route("/?" + query) == link  # what Flet makes of gridsync://enroll?…
    assert enroll_link_in_route("/enroll?" + query) == link  # a browser sent to the enroll screen
    assert enroll_link_in_route(link) == link
    for route in ("/", "/enroll", "/home", "/case/abc?server=x&code=y", "/?code=ABCD", "/?server=x"):
        assert enroll_link_in_route(route) is None, route


def shell_at(route: str, app: AppSession, tmp_path: Path) -> Shell:
    made = page()
    made.route = route
    return Shell(
        made, app, routes=ROUTES, positions=NoGps(), photos=NoPictures(), export_dir=tmp_path / "out"
    )


def test_an_app_opened_by_a_scanned_enrollment_link_enrolls_and_pins_the_servers_key(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    code = server.add_worker("zhang.wei", grids=(GRID_A,))
    fp = server.services.keys.public.signing_key_id
    link = enroll_link(server.url, code, fp)
    app = AppSession(tmp_path / "phone", device_locales=["en"], clock=clock, transport=server.transport)

    async def scenario() -> None:
        shell = shell_at("/?" + link.split("?", 1)[1], app, tmp_path)
        shell.start()
        await until(lambda: app.enrolled and not app.background.busy)
        assert isinstance(shell.screen, EnrollScreen) and shell.screen.state.fingerprint == fp
        assert any(t.startswith("Welcome, Zhang.Wei") for t in texts(shell._column))
        shell.stop()
        await app.aclose()

    asyncio.run(scenario())
    assert app.settings.last_server == server.url


def test_the_client_echoing_the_link_it_opened_with_leaves_the_enrollment_alone(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    """The route the app was opened at may come back as a route change (during the enrollment or
    after it): that is the same link, not a second scan — the enroll screen is not rebuilt, and a
    phone just enrolled by it is not told it is already enrolled."""
    code = server.add_worker("zhang.wei", grids=(GRID_A,))
    link = enroll_link(server.url, code, server.services.keys.public.signing_key_id)
    route = "/?" + link.split("?", 1)[1]
    app = AppSession(tmp_path / "phone", device_locales=["en"], clock=clock, transport=server.transport)
    toasts: list[str] = []

    async def scenario() -> None:
        shell = shell_at(route, app, tmp_path)
        shell.toast = lambda text, error=False: toasts.append(text)  # type: ignore[method-assign]
        shell.start()
        view = shell._view
        await shell._route_changed(type("E", (), {"route": route})())  # type: ignore[arg-type]
        await until(lambda: app.enrolled and not app.background.busy)
        await shell._route_changed(type("E", (), {"route": route})())  # type: ignore[arg-type]
        assert shell._view is view and isinstance(shell.screen, EnrollScreen)
        assert any(t.startswith("Welcome, Zhang.Wei") for t in texts(shell._column))
        shell.stop()
        await app.aclose()

    asyncio.run(scenario())
    assert toasts == []


def test_a_link_naming_another_servers_key_does_not_enroll_and_says_why(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    code = server.add_worker("zhang.wei", grids=(GRID_A,))
    app = AppSession(tmp_path / "phone", device_locales=["en"], clock=clock, transport=server.transport)

    async def scenario() -> None:
        shell = shell_at("/", app, tmp_path)
        shell.start()
        assert isinstance(shell.screen, EnrollScreen)
        # scanned while the app is open: the client reports the new route
        route = f"/?server={quote(server.url, safe='')}&code={code}&fp={FP}"
        await shell._route_changed(type("E", (), {"route": route})())  # type: ignore[arg-type]
        screen = shell.screen
        await until(lambda: screen.state.problem is not None)
        assert not app.enrolled and screen.state.server == server.url
        shell.stop()
        await app.aclose()

    asyncio.run(scenario())


def test_an_enrolled_phone_ignores_a_scanned_link_and_keeps_its_keys(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    app = AppSession(tmp_path / "phone", device_locales=["en"], clock=clock, transport=server.transport)
    asyncio.run(app.device.enroll(server.url, server.add_worker("zhang.wei", grids=(GRID_A,))))
    worker = app.device.identity
    other = enroll_link(server.url, server.add_worker("li.na", grids=(GRID_A,)), FP)

    async def scenario() -> None:
        shell = shell_at("/?" + other.split("?", 1)[1], app, tmp_path)
        shell.start()
        assert shell.route == "/home"
        await asyncio.sleep(0.05)
        assert app.device.identity == worker
        shell.stop()
        await app.aclose()

    asyncio.run(scenario())


def test_a_new_phone_is_offered_the_default_server_and_its_own_last_server_wins(
    tmp_path: Path, server: Server, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DEFAULT_SERVER_ENV, "http://127.0.0.1:8000")
    app = AppSession(tmp_path / "phone", device_locales=["en"], clock=clock, transport=server.transport)

    async def scenario() -> None:
        shell = shell_at("/", app, tmp_path)
        shell.start()
        screen = shell.screen
        assert isinstance(screen, EnrollScreen) and screen.state.server == "http://127.0.0.1:8000"
        fields = [c for c in shell._column.controls if getattr(c, "label", None) == "Server address"]  # type: ignore[union-attr]
        assert [f.value for f in fields] == ["http://127.0.0.1:8000"]
        app.remember_server("https://grid.example.cn")
        shell.forget_screens()
        shell.show("/enroll")
        assert shell.screen.state.server == "https://grid.example.cn"  # type: ignore[union-attr]
        shell.stop()
        await app.aclose()

    asyncio.run(scenario())
