"""The frame around the screens: routes, the bottom bar for the person's role, the sync badge,
messages, and the app's side of background sync: the session's `BackgroundSync` (the core's sync
loop) is started here, told when the app comes back to the foreground, and redraws the screen when a
round begins, progresses or ends. Local writes need nothing from the screens: the loop hears them from
the device.

Routes: /enroll, /home, /report, /map, /approvals, /sync, /settings, /case/<id>. A case opens on top
of the list it came from, so the system back gesture returns to it. Which screen draws a route is a
`RouteTable` handed over at start (`screens.ROUTES`): the shell imports no screen.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flet as ft

from mobile.app.state.adapters import PhotoSource, PositionSource
from mobile.app.state.enroll import enroll_link_in_route
from mobile.app.state.session import AppSession
from mobile.app.state.sync import unsent_text
from mobile.app.views import widgets
from mobile.app.views.screen import RouteTable, Screen

TABS: dict[str, tuple[str, Any, Any]] = {
    # key: (i18n label, icon, selected icon)
    "home": ("nav.home", ft.Icons.LIST_ALT_OUTLINED, ft.Icons.LIST_ALT),
    "report": ("nav.report", ft.Icons.ADD_A_PHOTO_OUTLINED, ft.Icons.ADD_A_PHOTO),
    "approvals": ("nav.approvals", ft.Icons.FACT_CHECK_OUTLINED, ft.Icons.FACT_CHECK),
    "map": ("nav.map", ft.Icons.MAP_OUTLINED, ft.Icons.MAP),
    "sync": ("nav.sync", ft.Icons.SYNC_OUTLINED, ft.Icons.SYNC),
    "settings": ("nav.settings", ft.Icons.SETTINGS_OUTLINED, ft.Icons.SETTINGS),
}
#: lifecycle states after which the app may be killed without warning: keep the keys now
LEAVING = ("inactive", "hide", "pause", "detach")
#: how long a toast shows (Flet's SnackBar default)
TOAST_MS = 4000
#: how long the page keeps a toast no client has ended: the client ends it first (its clock starts
#: once the toast has slid in); a client that went away (a reload) never says so, and one that
#: connects again is sent the page as it stands, so a toast still open there would be shown again
TOAST_KEPT_S = TOAST_MS / 1000 + 2


def tabs_for(role: str) -> list[str]:
    if role in ("supervisor", "admin"):
        return ["home", "approvals", "map", "sync", "settings"]
    if role == "handler":
        return ["home", "map", "sync", "settings"]
    return ["home", "report", "map", "sync", "settings"]


class Shell:
    def __init__(
        self,
        page: ft.Page,
        session: AppSession,
        *,
        routes: RouteTable,
        positions: PositionSource,
        photos: PhotoSource,
        export_dir: Path,
        camera: PhotoSource | None = None,
        file_picker: ft.FilePicker | None = None,
        device_name: str = "phone",
    ) -> None:
        self.page = page
        self.session = session
        self.routes = routes
        self.positions = positions
        self.photos = photos
        self.camera = camera  # None where there is no camera control (a desktop): the picker only
        self.export_dir = export_dir
        self.file_picker = file_picker
        self.device_name = device_name
        self.route = ""
        self._echoes: list[str] = []
        self._links: set[str] = set()  # enrollment links opened in this session
        self.screen: Screen | None = None
        self._column: ft.Column | None = None
        self._view: ft.View | None = None
        self._screens: dict[str, Screen] = {}
        self._unlisten: Callable[[], None] | None = None
        self._toast: ft.SnackBar | None = None

    # --- routing ----------------------------------------------------------------------------------
    def start(self) -> None:
        self.page.on_route_change = self._route_changed
        self.page.on_view_pop = self._view_popped
        self.page.on_app_lifecycle_state_change = self._lifecycle
        self._unlisten = self.session.background.listen(self._sync_changed)
        first = self.page.route if self.page.route not in ("", "/") else "/home"
        link = enroll_link_in_route(self.page.route or "")
        if link is not None:
            self.open_link(link)
        else:
            self.show(first)
        if _has_loop():
            self.session.background.start()  # syncs at once when enrolled

    def go(self, route: str) -> None:
        """Show a route now and record it in the browser's history. The client echoes every pushed
        route back as a route change, possibly after the person has tapped on: those echoes are
        expected and ignored, only routes the person reached otherwise (back, a typed URL) count."""
        self.show(route)
        self._echoes.append(route)
        with contextlib.suppress(Exception):  # no client (headless tests): the screen is shown anyway
            self.page.run_task(self.page.push_route, route)

    async def _route_changed(self, e: ft.RouteChangeEvent) -> None:
        if e.route in self._echoes:
            del self._echoes[: self._echoes.index(e.route) + 1]
            return
        link = enroll_link_in_route(e.route)
        if link is not None:  # a QR code scanned while the app was open
            # The same link again is the client echoing the route the app was opened at (or a
            # second look at the same code): it is being, or has been, handled.
            if link not in self._links:
                self.open_link(link)
            return
        # A route that leads to the screen already shown ("/" while enrolling) must not rebuild it:
        # that would drop what is being typed before its change event has arrived.
        if self._resolve(e.route) != self.route:
            self.show(e.route)

    async def _view_popped(self, e: ft.ViewPopEvent) -> None:
        self.go("/home" if self.route.startswith("/case/") else self.route)

    def open_link(self, link: str) -> None:
        """An enrollment link opened the app: enroll with it, unless this phone already is (a second
        enrollment would replace its keys; signing out in Settings comes first)."""
        self._links.add(link)
        if self.session.enrolled:
            self.show("/home")
            self.toast(self.session.tr.t("enroll.already"), error=True)
            return
        if self.route != "/enroll":  # already there: rebuilding it would drop what it shows
            self.show("/enroll")
        screen = self.screen
        if screen is not None:
            with contextlib.suppress(RuntimeError):
                self.page.run_task(screen.link_opened, link)

    def _resolve(self, route: str) -> str:
        if not self.session.enrolled:
            return "/enroll"
        if route in ("", "/", "/enroll"):
            return "/home"
        key = route.strip("/").split("/")[0]
        if key != "case" and key not in tabs_for(self._role()):
            return "/home"
        return route

    def _role(self) -> str:
        identity = self.session.device.identity
        return identity.role if identity else "worker"

    def screen_for(self, route: str) -> Screen:
        if route.startswith("/case/"):
            return self.routes.screen(self, route)
        if route not in self._screens:
            self._screens[route] = self.routes.screen(self, route)
        return self._screens[route]

    def show(self, route: str) -> None:
        """Draw a route's screen. Another screen than the one shown ends the toast on it."""
        resolved = self._resolve(route)
        if resolved != self.route:
            self.end_toast()
        self.route = resolved
        self.screen = self.screen_for(self.route)
        views = []
        if self.route.startswith("/case/"):
            views.append(self._build_view(self.screen_for("/home")))
        views.append(self._build_view(self.screen, top=True))
        self.page.views.clear()
        self.page.views.extend(views)
        self.page.title = self.session.tr.t("app.title")
        self._safe_update()
        with contextlib.suppress(RuntimeError):
            self.page.run_task(self.screen.shown)

    def forget_screens(self) -> None:
        """After a language change or a new enrollment: rebuild every screen from its state."""
        self._screens.clear()

    def enrolled(self) -> None:
        self.forget_screens()
        self.go("/home")

    def signed_out(self) -> None:
        self.forget_screens()
        self.go("/enroll")

    def language_changed(self) -> None:
        self.forget_screens()
        self.show(self.route)

    # --- drawing ----------------------------------------------------------------------------------
    def _body(self, screen: Screen) -> list[ft.Control]:
        """The screen's controls, and room under them for its floating main action, if any."""
        controls = screen.body()
        floating = screen.floating()
        if floating is not None:
            controls.append(ft.Container(height=widgets.FLOATING_CLEARANCE))
        return controls

    def _build_view(self, screen: Screen, *, top: bool = False) -> ft.View:
        column = ft.Column(
            self._body(screen),
            scroll=ft.ScrollMode.AUTO,
            expand=True,
            spacing=12,
            horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
        )
        is_case = screen.route.startswith("/case/")
        view = ft.View(
            route=screen.route,
            controls=[column],
            appbar=self._appbar(screen),
            navigation_bar=None if (is_case or not self.session.enrolled) else self._navbar(screen),
            floating_action_button=screen.floating(),
            floating_action_button_location=ft.FloatingActionButtonLocation.CENTER_FLOAT,
            bgcolor=ft.Colors.GREY_100,
            padding=ft.Padding.all(12),
        )
        if top:
            self._column, self._view = column, view
        return view

    def redraw(self, screen: Screen | None = None) -> None:
        """Draw the screen on top again from its state (after a tap, a sync, a language change)."""
        if self.screen is None or self._column is None or self._view is None:
            return
        if screen is not None and screen is not self.screen:
            return
        self._column.controls = self._body(self.screen)
        self._view.appbar = self._appbar(self.screen)
        self._view.floating_action_button = self.screen.floating()
        self._safe_update()

    def _appbar(self, screen: Screen) -> ft.AppBar:
        actions: list[ft.Control] = []
        if self.session.enrolled:
            what = unsent_text(self.session.device.unsent_work(), self.session.tr)
            count = bool(what)
            label = (
                self.session.tr.t("home.pending", what=what) if what else self.session.tr.t("home.all_synced")
            )
            badge = widgets.chip(
                label,
                ft.Colors.ORANGE_900 if count else ft.Colors.GREEN_800,
                icon=ft.Icons.CLOUD_UPLOAD if count else ft.Icons.CLOUD_DONE,
            )
            actions.append(
                ft.Container(
                    badge,
                    tooltip=label,
                    on_click=lambda e: self.go("/sync"),
                    height=widgets.SMALL,  # a touch target: 48 px, though the chip is smaller
                    alignment=ft.Alignment.CENTER,
                    padding=ft.Padding.only(right=12),
                )
            )
        back = None
        if screen.route.startswith("/case/"):  # Flutter's own back button is 40 px: too small to hit
            back = ft.IconButton(
                ft.Icons.ARROW_BACK,
                icon_color=ft.Colors.WHITE,
                tooltip=self.session.tr.t("app.back"),
                width=widgets.SMALL,
                height=widgets.SMALL,
                on_click=lambda e: self.go("/home"),
            )
        return ft.AppBar(
            title=ft.Text(screen.title(), size=20, weight=ft.FontWeight.BOLD),
            actions=actions,
            bgcolor=ft.Colors.BLUE_900,
            color=ft.Colors.WHITE,
            leading=back,
            automatically_imply_leading=False,
        )

    def _navbar(self, screen: Screen) -> ft.NavigationBar:
        keys = tabs_for(self._role())
        tr = self.session.tr

        def changed(e: ft.Event[ft.NavigationBar]) -> None:
            index = e.control.selected_index
            self.go(f"/{keys[index]}")

        selected = keys.index(screen.nav_key) if screen.nav_key in keys else 0
        return ft.NavigationBar(
            destinations=[
                ft.NavigationBarDestination(icon=TABS[k][1], selected_icon=TABS[k][2], label=tr.t(TABS[k][0]))
                for k in keys
            ],
            selected_index=selected,
            on_change=changed,
        )

    def scroll_to(self, key: str) -> None:
        """Bring the part of the screen on top with this key into view (a missing field)."""
        column = self._column
        if column is None:
            return
        with contextlib.suppress(Exception):  # no client (headless tests): nothing to scroll
            self.page.run_task(column.scroll_to, scroll_key=key, duration=300)

    def toast(self, text: str, *, error: bool = False) -> None:
        """A short message over the bottom of the screen shown now (show the next screen first, then
        the toast that goes with it). One at a time: a new one ends the one before. It ends after
        `TOAST_MS`, or when another screen is shown; the page holds it open no longer than
        `TOAST_KEPT_S`, so a client that connects again never brings an old one back."""
        self.end_toast()
        bar = ft.SnackBar(
            ft.Text(text, size=16, color=ft.Colors.WHITE),
            bgcolor=widgets.WARN if error else ft.Colors.GREEN_900,
            duration=ft.Duration(milliseconds=TOAST_MS),
        )
        self._toast = bar
        with contextlib.suppress(Exception):
            self.page.show_dialog(bar)
        with contextlib.suppress(RuntimeError):  # no loop: nothing to run the expiry on
            self.page.run_task(self._toast_kept, bar)

    def end_toast(self) -> None:
        """Close the toast shown, if it is still open (the client hides it at once)."""
        bar, self._toast = self._toast, None
        if bar is None or not bar.open:
            return
        bar.open = False
        with contextlib.suppress(Exception):  # already taken off the page: nothing to update
            bar.update()

    async def _toast_kept(self, bar: ft.SnackBar) -> None:
        await asyncio.sleep(TOAST_KEPT_S)
        if self._toast is bar:
            self.end_toast()

    def _safe_update(self) -> None:
        with contextlib.suppress(Exception):  # a page whose client went away
            self.page.update()

    # --- background sync --------------------------------------------------------------------------
    def _sync_changed(self) -> None:
        """A round began, progressed or ended. Only the sync screen shows a round under way; other
        screens are drawn again when it ends (new cases, the badge), or just their bar if they hold
        half-typed input."""
        screen = self.screen
        if screen is None:
            return
        if screen.route == "/sync":
            self.redraw()
        elif not self.session.background.busy:
            if screen.redraw_after_sync:
                self.redraw()
            elif self._view is not None:
                self._view.appbar = self._appbar(screen)
                self._safe_update()

    async def _lifecycle(self, e: ft.AppLifecycleStateChangeEvent) -> None:
        state = str(getattr(e.state, "value", e.state)).lower()
        if state == "resume":
            self.session.background.resume()
        elif state in LEAVING:
            await self.session.save_keys()

    def stop(self) -> None:
        """The page is going away (the session, shared with other pages, stays)."""
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None


def _has_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
