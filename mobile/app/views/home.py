"""My work: cases with status chips, deadlines and overdue marks, filters, and the sync line."""

from __future__ import annotations

import flet as ft

from mobile.app.state.home import FILTERS, CaseRow, HomeState
from mobile.app.views import widgets
from mobile.app.views.screen import Frame, Screen


class HomeScreen(Screen):
    route = "/home"
    nav_key = "home"

    def __init__(self, shell: Frame) -> None:
        super().__init__(shell)
        self.state = HomeState(self.device, self.session.tr)

    def title(self) -> str:
        return self.t("home.title")

    def body(self) -> list[ft.Control]:
        s = self.state
        ident = self.device.identity
        out: list[ft.Control] = []
        if ident is not None:
            out.append(
                ft.Text(
                    self.t("home.hello", name=ident.name, role=self.session.tr.role(ident.role)),
                    size=16,
                    color=ft.Colors.GREY_800,
                )
            )
        out.append(ft.Text(s.sync_line(), size=14, color=ft.Colors.GREY_800))
        out.append(
            widgets.text_field(
                self.t("home.search"),
                s.text,
                prefix_icon=ft.Icons.SEARCH,
                on_submit=self._search,
                on_change=self._typed,
            )
        )
        out.append(
            ft.Row(
                [
                    widgets.choice_chip(
                        self.t(f"home.filter.{f}"), s.filter == f, lambda e, f=f: self._filter(f)
                    )
                    for f in FILTERS
                ],
                wrap=True,
                spacing=6,
            )
        )
        rows = s.rows()
        if not rows:
            out.append(ft.Container(ft.Text(self.t("home.empty"), size=16), padding=20))
        out += [self._card(r) for r in rows]
        return out

    def floating(self) -> ft.Control | None:
        ident = self.device.identity
        if ident is None or ident.role != "worker":
            return None
        return widgets.main_action(
            self.t("home.new_report"), lambda e: self.shell.go("/report"), icon=ft.Icons.ADD_A_PHOTO
        )

    def _card(self, r: CaseRow) -> ft.Control:
        marks: list[ft.Control] = [widgets.status_chip(r.status, r.status_label)]
        if r.overdue:
            marks.append(widgets.chip(self.t("home.overdue"), widgets.WARN, icon=ft.Icons.ALARM))
        if r.pending:
            marks.append(
                widgets.chip(self.t("home.not_synced"), ft.Colors.ORANGE_900, icon=ft.Icons.CLOUD_UPLOAD)
            )
        if r.problem:
            marks.append(widgets.chip(self.t("home.problem"), widgets.WARN, icon=ft.Icons.ERROR))
        if r.conflict:
            marks.append(
                widgets.chip(self.t("home.conflict"), ft.Colors.PURPLE_800, icon=ft.Icons.CALL_SPLIT)
            )
        lines: list[ft.Control] = [
            ft.Text(r.title, size=18, weight=ft.FontWeight.BOLD, color=widgets.INK),
            ft.Row(marks, wrap=True, spacing=6),
            ft.Text(f"{r.number} · {r.place}", size=14, color=ft.Colors.GREY_800),
        ]
        if r.deadline:
            lines.append(
                ft.Text(r.deadline, size=14, color=widgets.WARN if r.overdue else ft.Colors.GREY_900)
            )
        return ft.Container(
            content=ft.Column(lines, spacing=6, tight=True),
            bgcolor=ft.Colors.WHITE,
            border=ft.Border.all(
                2 if r.overdue or r.problem else 1,
                widgets.WARN if r.overdue or r.problem else ft.Colors.GREY_400,
            ),
            border_radius=12,
            padding=ft.Padding.all(14),
            on_click=lambda e, cid=r.case_id: self.shell.go(f"/case/{cid}"),
            ink=True,
        )

    def _filter(self, f: str) -> None:
        self.state.filter = f
        self.redraw()

    def _typed(self, e: ft.Event) -> None:
        self.state.text = e.control.value or ""
        if not self.state.text:
            self.redraw()

    def _search(self, e: ft.Event) -> None:
        self.state.text = e.control.value or ""
        self.redraw()
