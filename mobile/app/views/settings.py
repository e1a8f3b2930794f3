"""Settings: language, server and device, map tiles, sign out (guarded when work is pending)."""

from __future__ import annotations

import flet as ft

from mobile.app import VERSION
from mobile.app.state.settings import LANGUAGE_CHOICES
from mobile.app.views import widgets
from mobile.app.views.screen import Screen


class SettingsScreen(Screen):
    route = "/settings"
    nav_key = "settings"

    def title(self) -> str:
        return self.t("settings.title")

    def body(self) -> list[ft.Control]:
        ident = self.device.identity
        lang_names = {
            "auto": "settings.language.auto",
            "zh-CN": "settings.language.zh",
            "en": "settings.language.en",
        }
        language = ft.RadioGroup(
            value=self.session.settings.language,
            on_change=self._language,
            content=ft.Column(
                [
                    ft.Radio(
                        value=c,
                        label=self.t(lang_names[c]),
                        label_style=ft.TextStyle(size=17, font_family=widgets.FONT_FAMILY),
                        visual_density=ft.VisualDensity.STANDARD,  # a 48 px touch target
                        height=widgets.SMALL,
                    )
                    for c in LANGUAGE_CHOICES
                ]
            ),
        )
        out: list[ft.Control] = [widgets.section(self.t("settings.language"), language)]
        if ident is not None:
            out.append(
                widgets.section(
                    self.t("settings.device"),
                    *widgets.fact_rows(
                        [
                            (
                                self.t("settings.worker"),
                                f"{ident.name} ({ident.worker_id}) · {self.session.tr.role(ident.role)}",
                            ),
                            (self.t("settings.server"), ident.server_url),
                            (self.t("settings.device_id"), ident.device_id),
                        ]
                    ),
                )
            )
        tile = widgets.text_field(
            self.t("settings.tile_url"),
            self.session.settings.tile_url,
            hint_text=self.t("settings.tile_hint"),
            on_blur=self._tile,
            on_submit=self._tile,
        )
        out.append(widgets.section(self.t("map.title"), tile))
        if ident is not None:
            out.append(
                widgets.big_button(
                    self.t("settings.sign_out"), self._sign_out, icon=ft.Icons.LOGOUT, primary=False
                )
            )
        out.append(ft.Text(self.t("settings.version", version=VERSION), size=13, color=ft.Colors.GREY_700))
        return out

    def _language(self, e: ft.Event) -> None:
        self.session.set_language(e.control.value or "auto")
        self.shell.language_changed()

    def _tile(self, e: ft.Event) -> None:
        self.session.set_tile_url(e.control.value or "")

    def _sign_out(self, e: ft.Event) -> None:
        pending = self.device.pending()
        count = pending.ops + pending.photos
        if count:
            text, action, force = (
                self.t("settings.sign_out_pending", count=count),
                self.t("settings.sign_out_anyway"),
                True,
            )
        else:
            text, action, force = self.t("settings.sign_out_confirm"), self.t("settings.sign_out"), False

        async def confirmed(e: ft.Event) -> None:
            self.page.pop_dialog()
            await self.session.sign_out(force=force)
            self.shell.signed_out()

        self.page.show_dialog(
            ft.AlertDialog(
                title=ft.Text(self.t("settings.sign_out")),
                content=ft.Text(text, size=16, color=widgets.WARN if force else widgets.INK),
                actions=[
                    widgets.dialog_button(self.t("app.cancel"), lambda e: self.page.pop_dialog()),
                    widgets.dialog_button(action, confirmed, primary=True, colour=widgets.WARN),
                ],
            )
        )
