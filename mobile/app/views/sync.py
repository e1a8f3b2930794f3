"""Sync: what waits, progress, the last round in words, sync now, export a hand-over file."""

from __future__ import annotations

import asyncio
import contextlib

import flet as ft

from mobile.app.state.sync import SyncState
from mobile.app.views import widgets
from mobile.app.views.screen import Frame, Screen
from shared.errors import GridsyncError


class SyncScreen(Screen):
    route = "/sync"
    nav_key = "sync"

    def __init__(self, shell: Frame) -> None:
        super().__init__(shell)
        self.state = SyncState(self.device, self.session.tr, background=self.session.background)

    def title(self) -> str:
        return self.t("sync.title")

    def body(self) -> list[ft.Control]:
        s = self.state
        last = s.last()
        bad = last is not None and (not last.reached_server or not last.ok)
        out: list[ft.Control] = [
            widgets.section(self.t("sync.title"), *[ft.Text(line, size=17) for line in s.pending_lines()]),
        ]
        if s.running:
            out.append(
                ft.Column(
                    [
                        ft.ProgressBar(value=s.progress_fraction(), height=10),
                        ft.Text(s.progress_text(), size=16),
                    ],
                    tight=True,
                )
            )
        out.append(widgets.message_box(s.result_text(), error=bad))
        out.append(ft.Text(s.last_round_text(), size=15, color=ft.Colors.GREY_800))
        out.append(ft.Text(s.last_success_text(), size=15, color=ft.Colors.GREY_800))
        out.append(widgets.big_button(self.t("sync.now"), self._sync, icon=ft.Icons.SYNC, disabled=s.running))
        out.append(
            widgets.section(
                self.t("sync.export"),
                ft.Text(self.t("sync.export_hint"), size=15),
                widgets.small_button(self.t("sync.export"), self._export, icon=ft.Icons.SAVE_ALT),
                *(
                    [ft.Text(self.t("sync.exported", path=str(s.exported)), size=14, selectable=True)]
                    if s.exported
                    else []
                ),
            )
        )
        return out

    def _sync(self, e: ft.Event) -> None:
        # The session's sync loop runs the round; the shell redraws this screen as it goes and ends.
        self.state.sync_now()
        self.redraw()

    async def _export(self, e: ft.Event) -> None:
        try:
            path = await asyncio.to_thread(self.state.export, self.shell.export_dir)
        except GridsyncError as exc:
            self.shell.toast(self.session.tr.error(exc.code), error=True)
            return
        if self.page.web:  # the file is on the server: hand it to the browser as a download
            with contextlib.suppress(Exception):
                await self.shell.file_picker.save_file(file_name=path.name, src_bytes=path.read_bytes())
        self.redraw()
