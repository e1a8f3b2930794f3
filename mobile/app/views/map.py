"""The map: cases coloured by status, my position, my grids. Grids and markers draw with no tiles
(the base map needs a network; its address is a setting)."""

from __future__ import annotations

from collections.abc import Callable

import flet as ft
import flet_map as fm

from mobile.app.state.adapters import LocationUnavailable
from mobile.app.state.map import MAP_HEIGHT_PX, MARKER_PX, Camera, MapState
from mobile.app.views import widgets
from mobile.app.views.screen import Frame, Screen


def build_map(
    state: MapState,
    tile_url: str,
    *,
    height: float = MAP_HEIGHT_PX,
    on_tap: Callable[[float, float], None] | None = None,
    on_marker: Callable[[str], None] | None = None,
    pin: tuple[float, float] | None = None,
    zoom: float | None = None,
) -> fm.Map:
    """The map fitted to the worker's grids (or centred on `pin`), cases fanned out where they
    share a spot, and grid labels where no marker covers them."""
    camera = state.camera()
    if pin is not None:
        camera = Camera(pin[0], pin[1], zoom or camera.zoom)
    outlines = state.outlines(camera)
    polygons = [
        fm.PolygonMarker(
            coordinates=[fm.MapLatitudeLongitude(a, b) for a, b in o.points],
            color=ft.Colors.with_opacity(0.18 if o.mine else 0.04, ft.Colors.BLUE_700),
            border_color=ft.Colors.BLUE_900 if o.mine else ft.Colors.GREY_600,
            border_stroke_width=2.5 if o.mine else 1,
        )
        for o in outlines
    ]
    labels = [
        fm.Marker(
            content=ft.Container(
                ft.Text(o.code[-3:], size=13, weight=ft.FontWeight.BOLD, color=ft.Colors.BLUE_900),
                bgcolor=ft.Colors.with_opacity(0.85, ft.Colors.WHITE),
                border_radius=6,
                padding=ft.Padding.symmetric(horizontal=4, vertical=1),
                alignment=ft.Alignment.CENTER,
            ),
            coordinates=fm.MapLatitudeLongitude(*o.label_at),
            width=40,
            height=22,
        )
        for o in outlines
        if o.mine
    ]
    markers = [
        fm.Marker(
            content=ft.Container(
                ft.Icon(
                    ft.Icons.LOCATION_ON,
                    color=widgets.STATUS_COLOURS.get(m.status, ft.Colors.GREY_700),
                    size=38,
                ),
                width=MARKER_PX,  # the marker is a touch target: 48 px
                height=MARKER_PX,
                alignment=ft.Alignment.CENTER,
                tooltip=m.label,
                on_click=(lambda e, cid=m.case_id: on_marker(cid)) if on_marker else None,
            ),
            coordinates=fm.MapLatitudeLongitude(m.lat, m.lon),
            width=MARKER_PX,
            height=MARKER_PX,
        )
        for m in state.markers(camera)
    ]
    if state.position is not None:  # drawn first: under the cases, never hiding one
        markers.insert(
            0,
            fm.Marker(
                content=ft.Icon(ft.Icons.MY_LOCATION, color=ft.Colors.RED_700, size=22),
                coordinates=fm.MapLatitudeLongitude(state.position.lat, state.position.lon),
            ),
        )
    if pin is not None:
        markers.append(
            fm.Marker(
                content=ft.Icon(ft.Icons.PUSH_PIN, color=ft.Colors.BLACK, size=34),
                coordinates=fm.MapLatitudeLongitude(*pin),
                width=MARKER_PX,
                height=MARKER_PX,
            )
        )
    layers: list[fm.MapLayer] = []
    if tile_url:
        layers.append(fm.TileLayer(url_template=tile_url, user_agent_package_name="org.gridsync.app"))
    layers += [
        fm.PolygonLayer(polygons=polygons),
        fm.MarkerLayer(markers=labels),
        fm.MarkerLayer(markers=markers),
    ]
    return fm.Map(
        layers=layers,
        initial_center=fm.MapLatitudeLongitude(camera.lat, camera.lon),
        initial_zoom=camera.zoom,
        height=height,
        bgcolor=ft.Colors.BLUE_GREY_50,
        on_tap=(lambda e: on_tap(e.coordinates.latitude, e.coordinates.longitude)) if on_tap else None,
    )


class MapScreen(Screen):
    route = "/map"
    nav_key = "map"

    def __init__(self, shell: Frame) -> None:
        super().__init__(shell)
        self.state = MapState(self.device, self.session.tr)

    def title(self) -> str:
        return self.t("map.title")

    async def shown(self) -> None:
        try:
            self.state.position = await self.shell.positions.current(8)
        except LocationUnavailable:
            return
        self.redraw()

    def body(self) -> list[ft.Control]:
        legend = [
            widgets.status_chip(s, self.session.tr.status(s))
            for s in ("reported", "dispatched", "handling", "reported_back", "verified", "closed")
        ]
        return [
            build_map(
                self.state,
                self.session.settings.tile_url,
                on_marker=lambda cid: self.shell.go(f"/case/{cid}"),
            ),
            ft.Text(self.t("map.cases", count=len(self.state.cases())), size=16),
            ft.Row(legend, wrap=True, spacing=6),
            ft.Text(self.t("map.no_tiles"), size=13, color=ft.Colors.GREY_800),
        ]
