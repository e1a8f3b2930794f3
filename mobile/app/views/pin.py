"""Put the report on the map by hand: tap the map, or type the coordinates."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import flet as ft

from mobile.app.state.map import MapState
from mobile.app.views import widgets
from mobile.app.views.map import build_map

if TYPE_CHECKING:
    from mobile.app.views.screen import Screen


class PinDialog:
    def __init__(self, screen: Screen, on_pin: Callable[[float, float], None]) -> None:
        self.screen = screen
        self.on_pin = on_pin
        self.map_state = MapState(screen.device, screen.session.tr)
        report = getattr(screen, "state", None)
        fix = report.location() if report is not None else None
        self.point = (fix.lat, fix.lon) if fix is not None else self.map_state.center()

    def open(self) -> None:
        t = self.screen.t
        self.lat = widgets.text_field(
            t("report.pin_lat"), f"{self.point[0]:.6f}", keyboard_type=ft.KeyboardType.NUMBER
        )
        self.lon = widgets.text_field(
            t("report.pin_lon"), f"{self.point[1]:.6f}", keyboard_type=ft.KeyboardType.NUMBER
        )
        self.holder = ft.Container(self._map(), height=300, width=340)
        self.screen.page.show_dialog(
            ft.AlertDialog(
                title=ft.Text(t("report.pin")),
                content=ft.Column([self.holder, ft.Row([self.lat, self.lon])], tight=True, width=340),
                actions=[
                    widgets.dialog_button(t("app.cancel"), lambda e: self.screen.page.pop_dialog()),
                    widgets.dialog_button(t("app.confirm"), self._confirm, primary=True),
                ],
            )
        )

    def _map(self) -> ft.Control:
        return build_map(
            self.map_state,
            self.screen.session.settings.tile_url,
            height=300,
            on_tap=self._tapped,
            pin=self.point,
            zoom=17,
        )

    def _tapped(self, lat: float, lon: float) -> None:
        self.point = (lat, lon)
        self.lat.value, self.lon.value = f"{lat:.6f}", f"{lon:.6f}"
        self.holder.content = self._map()
        self.screen.page.update()

    def _confirm(self, e: ft.Event) -> None:
        try:
            lat, lon = float(self.lat.value or ""), float(self.lon.value or "")
        except ValueError:
            return
        self.screen.page.pop_dialog()
        self.on_pin(lat, lon)
