"""Supervisor: everything waiting for her, grouped (to file, closures, extensions, conflicts), and a
small dashboard drawn with plain bars. A new report is filed from its card: 立案派遣, OK."""

from __future__ import annotations

import asyncio

import flet as ft

from mobile.app.state.case_detail import CaseState
from mobile.app.state.supervisor import Bar, QueueRow, SupervisorState
from mobile.app.views import widgets
from mobile.app.views.case import ActionDialog
from mobile.app.views.screen import Frame, Screen


class ApprovalsScreen(Screen):
    route = "/approvals"
    nav_key = "approvals"

    def __init__(self, shell: Frame) -> None:
        super().__init__(shell)
        self.state = SupervisorState(self.device, self.session.tr)
        self.message: str | None = None
        self.error: str | None = None

    def title(self) -> str:
        return self.t("sup.title")

    def body(self) -> list[ft.Control]:
        groups = self.state.groups()
        total = sum(len(g.rows) for g in groups)
        out: list[ft.Control] = []
        if self.error:
            out.append(widgets.message_box(self.error, error=True))
        elif self.message:
            out.append(widgets.message_box(self.message))
        queue: list[ft.Control] = []
        for group in groups:
            queue.append(ft.Text(group.title, size=17, weight=ft.FontWeight.BOLD, color=ft.Colors.BLUE_900))
            queue += [self._card(r) for r in group.rows]
        if not queue:
            queue.append(ft.Text(self.t("sup.queue_empty"), size=16))
        out.append(widgets.section(f"{self.t('sup.queue')} ({total})", *queue))
        out += [
            widgets.section(
                self.t("sup.dashboard"), *[self._bar(b, ft.Colors.BLUE_800) for b in self.state.rate_bars()]
            ),
            widgets.section(
                self.t("sup.by_status"), *[self._bar(b, ft.Colors.TEAL_800) for b in self.state.count_bars()]
            ),
        ]
        return out

    def _card(self, r: QueueRow) -> ft.Control:
        marks: list[ft.Control] = [
            widgets.status_chip(r.status, r.status_label),
            widgets.chip(r.why, ft.Colors.PURPLE_800),
        ]
        if r.overdue:
            marks.append(widgets.chip(self.t("home.overdue"), widgets.WARN, icon=ft.Icons.ALARM))
        # The words open the case; the quick action is a button of its own beside them, not inside
        # the tappable part: a tappable part holding a button hid all its words from the browser's
        # accessibility tree (a screen reader, and the browser tests, found none of them).
        words = ft.Container(
            ft.Column(
                [
                    ft.Text(r.title, size=18, weight=ft.FontWeight.BOLD, color=widgets.INK),
                    ft.Row(marks, wrap=True, spacing=6),
                    ft.Text(f"{r.number} · {r.waiting}", size=14, color=ft.Colors.GREY_800),
                ],
                spacing=6,
                tight=True,
            ),
            on_click=lambda e, cid=r.case_id: self.shell.go(f"/case/{cid}"),
            ink=True,
            border_radius=8,
        )
        lines: list[ft.Control] = [words]
        if r.quick_action is not None:
            lines.append(
                widgets.big_button(
                    self.session.tr.action(r.quick_action),
                    lambda e, row=r: self._quick(row),
                    icon=ft.Icons.ASSIGNMENT_TURNED_IN,
                )
            )
        return ft.Container(
            ft.Column(lines, spacing=6, tight=True, horizontal_alignment=ft.CrossAxisAlignment.STRETCH),
            bgcolor=ft.Colors.AMBER_50,
            border=ft.Border.all(2 if r.overdue else 1, widgets.WARN if r.overdue else ft.Colors.AMBER_800),
            border_radius=12,
            padding=ft.Padding.all(12),
        )

    def _quick(self, row: QueueRow) -> None:
        """File from the card: the dialog offers the category's own department first; OK saves."""
        case = CaseState(self.device, self.session.tr, row.case_id)
        spec = next((a for a in case.actions() if a.action == row.quick_action), None)
        if spec is None:
            self.shell.go(f"/case/{row.case_id}")
            return

        async def perform(spec, **kw: object) -> None:  # type: ignore[no-untyped-def]
            await asyncio.to_thread(lambda: case.perform(spec.action, **kw))  # type: ignore[arg-type]
            self.message, self.error = case.message, case.error
            self.redraw()

        ActionDialog(self, case, spec, perform).open()

    def _bar(self, bar: Bar, colour: str) -> ft.Control:
        width = 200
        return ft.Row(
            [
                ft.Text(bar.label, size=15, width=110),
                ft.Stack(
                    [
                        ft.Container(width=width, height=22, bgcolor=ft.Colors.GREY_300, border_radius=6),
                        ft.Container(
                            width=max(2, width * bar.fraction), height=22, bgcolor=colour, border_radius=6
                        ),
                    ],
                    width=width,
                    height=22,
                ),
                ft.Text(bar.text, size=15, weight=ft.FontWeight.BOLD),
            ],
            spacing=8,
        )
