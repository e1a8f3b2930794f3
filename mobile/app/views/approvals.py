"""Supervisor: the approval queue and a small dashboard drawn with plain bars."""

from __future__ import annotations

import flet as ft

from mobile.app.state.supervisor import Bar, SupervisorState
from mobile.app.views import widgets
from mobile.app.views.screen import Frame, Screen


class ApprovalsScreen(Screen):
    route = "/approvals"
    nav_key = "approvals"

    def __init__(self, shell: Frame) -> None:
        super().__init__(shell)
        self.state = SupervisorState(self.device, self.session.tr)

    def title(self) -> str:
        return self.t("sup.title")

    def body(self) -> list[ft.Control]:
        queue = self.state.queue()
        rows: list[ft.Control] = []
        for r in queue:
            rows.append(
                ft.Container(
                    ft.Column(
                        [
                            ft.Text(r.title, size=18, weight=ft.FontWeight.BOLD),
                            ft.Row(
                                [
                                    widgets.status_chip(r.status, r.status_label),
                                    widgets.chip(r.why, ft.Colors.PURPLE_800),
                                ],
                                wrap=True,
                            ),
                            ft.Text(r.number, size=14, color=ft.Colors.GREY_800),
                        ],
                        spacing=6,
                        tight=True,
                    ),
                    bgcolor=ft.Colors.AMBER_50,
                    border=ft.Border.all(1, ft.Colors.AMBER_800),
                    border_radius=12,
                    padding=ft.Padding.all(12),
                    on_click=lambda e, cid=r.case_id: self.shell.go(f"/case/{cid}"),
                    ink=True,
                )
            )
        if not rows:
            rows.append(ft.Text(self.t("sup.queue_empty"), size=16))
        return [
            widgets.section(f"{self.t('sup.queue')} ({len(queue)})", *rows),
            widgets.section(
                self.t("sup.dashboard"), *[self._bar(b, ft.Colors.BLUE_800) for b in self.state.rate_bars()]
            ),
            widgets.section(
                self.t("sup.by_status"), *[self._bar(b, ft.Colors.TEAL_800) for b in self.state.count_bars()]
            ),
        ]

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
