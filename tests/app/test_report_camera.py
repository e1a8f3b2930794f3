"""The report screen's camera, headless: a still from the camera takes the same path as a picked
picture (checked, thumbnailed, kept with its stage); where there is no camera only the picker shows."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mobile.app.state.adapters import PhotoSource
from mobile.app.state.session import AppSession
from mobile.app.views.camera import camera_supported
from mobile.app.views.report import ReportScreen
from mobile.app.views.screens import ROUTES
from mobile.app.views.shell import Shell
from tests.app.headless import NoGps, NoPictures, page, texts
from tests.mobile.conftest import GRID_A, Clock, Server, jpeg


class FakeCamera:
    def __init__(self, *stills: bytes) -> None:
        self.stills = list(stills)
        self.opened = 0

    async def pick(self) -> list[bytes]:
        self.opened += 1
        return self.stills


class BrokenCamera:
    async def pick(self) -> list[bytes]:
        raise RuntimeError("NotAllowedError: Permission denied")


def test_the_camera_is_offered_on_phones_and_in_browsers_but_not_on_a_desktop() -> None:
    assert camera_supported("android", web=False) and camera_supported("ios", web=False)
    assert camera_supported("linux", web=True) and camera_supported(None, web=True)
    assert not camera_supported("windows", web=False) and not camera_supported("macos", web=False)


async def report_screen(
    tmp_path: Path, server: Server, clock: Clock, camera: PhotoSource | None
) -> ReportScreen:
    app = AppSession(tmp_path / "phone", device_locales=["en"], clock=clock, transport=server.transport)
    await app.device.enroll(server.url, server.add_worker("zhang.wei", grids=(GRID_A,)))
    shell = Shell(
        page(),
        app,
        routes=ROUTES,
        positions=NoGps(),
        photos=NoPictures(),
        camera=camera,
        export_dir=tmp_path / "out",
    )
    shell.show("/report")
    assert isinstance(shell.screen, ReportScreen)
    return shell.screen


def test_a_still_from_the_camera_becomes_a_before_and_an_after_photo_of_the_report(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    camera = FakeCamera(jpeg(1))

    async def scenario() -> None:
        screen = await report_screen(tmp_path, server, clock, camera)
        shown = list(texts(screen.shell._column))
        assert "Take photo" in shown and "Choose from gallery" in shown
        await screen._shoot_before(None)  # type: ignore[arg-type]
        screen.state.on_spot = True
        await screen._shoot_after(None)  # type: ignore[arg-type]
        assert camera.opened == 2
        assert [p.stage for p in screen.state.photos] == ["before", "after"]
        assert all(p.thumb and p.data == jpeg(1) for p in screen.state.photos)
        assert "Photos (1)" in list(texts(screen.shell._column))
        await screen.session.aclose()

    asyncio.run(scenario())


def test_a_camera_that_cannot_open_says_to_pick_a_file_instead(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    async def scenario() -> None:
        screen = await report_screen(tmp_path, server, clock, BrokenCamera())
        await screen._shoot_before(None)  # type: ignore[arg-type]
        assert screen.state.photos == []
        assert "No camera here; pick an image file instead." in list(texts(screen.shell._column))
        await screen.session.aclose()

    asyncio.run(scenario())


def test_without_a_camera_the_report_offers_the_picker_alone(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    async def scenario() -> None:
        screen = await report_screen(tmp_path, server, clock, None)
        shown = list(texts(screen.shell._column))
        assert "Add photo" in shown and "Take photo" not in shown
        await screen.session.aclose()

    asyncio.run(scenario())
