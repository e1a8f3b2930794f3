"""The phone's camera as a `PhotoSource`: a dialog with the live preview, a shutter and a cancel.

`flet_camera.Camera` is a visible control that only exists on Android, iOS and in a browser; on a
desktop the report screen offers the file picker alone (`camera_supported`). The dialog hands back
one still as the camera encoded it (JPEG), and the report screen feeds it through the same path as
a picked picture.
"""

from __future__ import annotations

import asyncio
import contextlib

import flet as ft
import flet_camera as fc

from mobile.app.i18n import Translator
from mobile.app.views import widgets

#: how long the camera may take to open (a permission prompt answered, the sensor started)
OPEN_TIMEOUT_S = 30.0
#: the preview is drawn in a box of this size; the camera's own aspect ratio fits inside
PREVIEW = (320, 400)


def camera_supported(platform: str | None, *, web: bool) -> bool:
    """Where flet_camera has a client side: phones and browsers (a browser asks for the webcam)."""
    return web or platform in ("android", "ios")


class CameraPhotoSource:
    """Opens the camera in a dialog; `pick()` returns the still taken, or nothing if cancelled.
    A camera that cannot open (no device, no permission) raises RuntimeError, as the picker does."""

    def __init__(self, page: ft.Page, tr: Translator) -> None:
        self.page = page
        self.tr = tr

    async def pick(self) -> list[bytes]:
        taken: asyncio.Future[list[bytes]] = asyncio.get_running_loop().create_future()
        camera = fc.Camera(width=PREVIEW[0], height=PREVIEW[1], preview_enabled=True)
        camera.on_state_change = lambda e: self._fit(camera, e)
        problem = ft.Text("", color=widgets.WARN, size=15, visible=False)

        def finish(result: list[bytes] | BaseException) -> None:
            if taken.done():
                return
            if isinstance(result, BaseException):
                taken.set_exception(result)
            else:
                taken.set_result(result)
            with contextlib.suppress(Exception):
                self.page.pop_dialog()

        async def shutter(e: ft.Event) -> None:
            try:
                data = await camera.take_picture()
            except (RuntimeError, TimeoutError) as exc:
                finish(RuntimeError(str(exc) or "take_picture failed"))
                return
            finish([bytes(data)] if data else [])

        dialog = ft.AlertDialog(
            modal=True,
            title=ft.Text(self.tr.t("report.take_photo")),
            content=ft.Column([camera, problem], tight=True, spacing=8),
            actions=[
                widgets.dialog_button(self.tr.t("app.cancel"), lambda e: finish([])),
                widgets.big_button(self.tr.t("camera.shutter"), shutter, icon=ft.Icons.CAMERA),
            ],
            on_dismiss=lambda e: finish([]),
        )
        self.page.show_dialog(dialog)
        self.page.update()
        try:
            await asyncio.wait_for(self._open(camera), OPEN_TIMEOUT_S)
        except (RuntimeError, TimeoutError) as exc:
            finish(RuntimeError(str(exc) or "the camera did not open"))
        return await taken

    def _fit(self, camera: fc.Camera, e: fc.CameraStateEvent) -> None:
        """Give the preview the camera's shape (a phone in portrait turns its landscape sensor)."""
        if not e.aspect_ratio:
            return
        ratio = float(e.aspect_ratio)
        portrait = not self.page.web
        height = PREVIEW[0] * ratio if portrait else PREVIEW[0] / ratio
        camera.height = min(PREVIEW[1] * 1.2, height)

    async def _open(self, camera: fc.Camera) -> None:
        """Start the back camera (a phone) or the first one (a browser's webcam). The control must be
        on the client before it answers, so the first call is retried briefly."""
        cameras: list[fc.CameraDescription] = []
        for attempt in range(20):
            try:
                cameras = await camera.get_available_cameras()
                break
            except RuntimeError:
                if attempt == 19:
                    raise
                await asyncio.sleep(0.25)
        if not cameras:
            raise RuntimeError("no camera")
        back = [c for c in cameras if c.lens_direction == fc.CameraLensDirection.BACK]
        await camera.initialize((back or cameras)[0], fc.ResolutionPreset.HIGH, enable_audio=False)
