"""Enroll this device: server address and one-time code, or a pasted `gridsync://` link."""

from __future__ import annotations

import flet as ft

from mobile.app.state.enroll import EnrollState, default_server
from mobile.app.views import widgets
from mobile.app.views.screen import Frame, Screen


class EnrollScreen(Screen):
    route = "/enroll"

    def __init__(self, shell: Frame) -> None:
        super().__init__(shell)
        self.state = EnrollState(self.device, self.session.tr, device_name=shell.device_name)
        self.state.server = self.session.settings.last_server or default_server()

    def title(self) -> str:
        return self.t("enroll.title")

    def body(self) -> list[ft.Control]:
        s = self.state
        if s.identity is not None:
            return self._welcome()
        link = widgets.text_field(self.t("enroll.link"), on_submit=self._link_submitted, multiline=False)
        self._link = link
        server = widgets.text_field(
            self.t("enroll.server"),
            s.server,
            on_change=lambda e: s.set_server(e.control.value or ""),
            keyboard_type=ft.KeyboardType.URL,
        )
        code = widgets.text_field(
            self.t("enroll.code"),
            s.code,
            on_change=lambda e: s.set_code(e.control.value or ""),
            capitalization=ft.TextCapitalization.CHARACTERS,
        )
        out: list[ft.Control] = [
            ft.Text(self.t("enroll.intro"), size=16, color=widgets.INK),
            server,
            code,
            widgets.big_button(self.t("enroll.submit"), self._submit, icon=ft.Icons.LOGIN, disabled=s.busy),
        ]
        if s.busy:
            out.append(
                ft.Row([ft.ProgressRing(width=24, height=24), ft.Text(self.t("enroll.working"), size=16)])
            )
        if s.problem is not None:
            out.append(widgets.message_box(s.problem.message, error=True))
        out += [
            ft.Divider(),
            link,
            widgets.small_button(self.t("enroll.use_link"), self._use_link, icon=ft.Icons.LINK),
        ]
        return out

    def _welcome(self) -> list[ft.Control]:
        ident = self.state.identity
        assert ident is not None
        welcome, role, *rest = self.state.welcome_lines()
        facts = [
            ft.Text(welcome, size=24, weight=ft.FontWeight.BOLD),
            ft.Text(role, size=18),
            *[ft.Text(line, size=16) for line in rest],
        ]
        return [
            widgets.message_box(self.t("enroll.done")),
            widgets.section(self.t("settings.worker"), *facts),
            widgets.big_button(self.t("enroll.continue"), self._continue, icon=ft.Icons.ARROW_FORWARD),
        ]

    def _use_link(self, e: ft.Event) -> None:
        if self.state.use_link(self._link.value or ""):
            self.shell.toast(self.t("enroll.link_read"))
        self.redraw()

    def _link_submitted(self, e: ft.Event) -> None:
        self._use_link(e)

    async def link_opened(self, link: str) -> None:
        await self.enroll_from_link(link)

    async def enroll_from_link(self, link: str) -> None:
        """A scanned link opened the app: fill the form from it and enroll at once (the person chose
        to scan it); a bad link or a failed enrollment is shown on the form, as a typed one would be."""
        if self.state.busy or self.state.identity is not None:
            return
        if self.state.use_link(link):
            await self._submit(None)
        else:
            self.redraw()

    async def _submit(self, e: ft.Event | None) -> None:
        self.state.busy = True
        self.redraw()
        identity = await self.state.submit()
        if identity is not None:
            self.session.remember_server(identity.server_url)
            await self.session.after_enrollment()  # keys into safe keeping, then the first sync
        self.redraw()

    def _continue(self, e: ft.Event) -> None:
        self.shell.enrolled()
