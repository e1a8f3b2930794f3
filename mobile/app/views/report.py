"""Report a problem: category, photos, position, words — saved on the phone at once."""

from __future__ import annotations

import asyncio
import time

import flet as ft

from mobile.app.state.adapters import LocationUnavailable, PhotoSource
from mobile.app.state.report import ReportState
from mobile.app.views import widgets
from mobile.app.views.pin import PinDialog
from mobile.app.views.screen import Frame, Screen
from shared.errors import GridsyncError

GPS_WAIT_S = 20  # how long the screen keeps asking for a better fix
GPS_TRY_S = 8  # one request's timeout


class ReportScreen(Screen):
    route = "/report"
    nav_key = "report"
    redraw_after_sync = False  # a report half made: fields, a GPS fix on its way

    def __init__(self, shell: Frame) -> None:
        super().__init__(shell)
        self.state = ReportState(self.device, self.session.tr)
        self.locating = False
        self.gps_problem: str | None = None
        self.photo_problem: str | None = None
        self.show_missing = False

    def title(self) -> str:
        return self.t("report.title")

    async def shown(self) -> None:
        if self.state.location() is None and not self.locating:
            await self.locate()

    # --- drawing ----------------------------------------------------------------------------------
    def body(self) -> list[ft.Control]:
        s = self.state
        out: list[ft.Control] = [self._category(), self._photos(), self._location()]
        out.append(
            widgets.section(
                self.t("case.description"),
                widgets.text_field(
                    self.t("report.description"),
                    s.description,
                    multiline=True,
                    min_lines=2,
                    on_change=lambda e: setattr(s, "description", e.control.value or ""),
                ),
                widgets.text_field(
                    self.t("report.address"),
                    s.address,
                    on_change=lambda e: setattr(s, "address", e.control.value or ""),
                ),
            )
        )
        out.append(self._on_spot())
        return out

    def floating(self) -> ft.Control | None:
        """Save stays on screen whatever the scroll (above the bottom bar, clear of the content)."""
        return widgets.main_action(self.t("report.save"), self._save, icon=ft.Icons.SAVE)

    def _missing(self, part: str) -> list[ft.Control]:
        """The message for a missing field, shown in its own part of the screen."""
        text = self.state.missing_fields().get(part) if self.show_missing else None
        return [] if text is None else [widgets.message_box(text, error=True)]

    def _category(self) -> ft.Control:
        s = self.state
        chosen: list[ft.Control] = []
        if s.category is not None:
            c, lang = s.category, self.session.tr.lang
            chosen.append(
                ft.Text(
                    f"{c.major_name(lang)} › {c.name(lang)} ({c.code})",
                    size=18,
                    weight=ft.FontWeight.BOLD,
                    color=ft.Colors.BLUE_900,
                )
            )
        recent = self.device.recent_categories(5)
        quick = [
            widgets.choice_chip(
                c.name(self.session.tr.lang), s.category == c, lambda e, code=c.code: self._pick(code)
            )
            for c in recent
        ]
        parts: list[ft.Control] = [*chosen, *self._missing("category")]
        if quick:
            parts += [
                ft.Text(self.t("report.recent"), size=14, color=ft.Colors.GREY_800),
                ft.Row(quick, wrap=True),
            ]
        parts.append(
            widgets.big_button(
                self.t("report.category_pick"),
                self._open_picker,
                icon=ft.Icons.CATEGORY,
                primary=s.category is None,
            )
        )
        return widgets.section(self.t("report.category"), *parts, key="category")

    def _photos(self) -> ft.Control:
        s = self.state
        thumbs = [self._thumb(i, p.thumb) for i, p in enumerate(s.photos) if p.stage == "before"]
        parts: list[ft.Control] = []
        if thumbs:
            parts.append(ft.Row(thumbs, wrap=True, spacing=8))
        parts += self._missing("photos")
        if self.photo_problem:
            parts.append(widgets.message_box(self.photo_problem, error=True))
        if self.shell.camera is not None:
            parts.append(
                widgets.big_button(
                    self.t("report.take_photo"),
                    self._shoot_before,
                    icon=ft.Icons.PHOTO_CAMERA,
                    primary=not thumbs,
                )
            )
            parts.append(
                widgets.small_button(self.t("report.choose_photo"), self._add_before, icon=ft.Icons.PHOTO)
            )
        else:
            parts.append(
                widgets.big_button(
                    self.t("report.add_photo"),
                    self._add_before,
                    icon=ft.Icons.PHOTO_CAMERA,
                    primary=not thumbs,
                )
            )
        return widgets.section(
            self.t("report.photos") + (f" ({len(thumbs)})" if thumbs else ""), *parts, key="photos"
        )

    def _thumb(self, index: int, data: bytes) -> ft.Control:
        return ft.Stack(
            [
                ft.Image(src=data, width=96, height=96, fit=ft.BoxFit.COVER, border_radius=8),
                ft.Container(
                    ft.IconButton(
                        ft.Icons.CLOSE,
                        icon_color=ft.Colors.WHITE,
                        icon_size=20,
                        width=widgets.SMALL,
                        height=widgets.SMALL,
                        tooltip=self.t("report.remove_photo"),
                        on_click=lambda e: self._remove(index),
                    ),
                    bgcolor=ft.Colors.with_opacity(0.6, ft.Colors.BLACK),
                    border_radius=20,
                    right=0,
                    top=0,
                ),
            ],
            width=96,
            height=96,
        )

    def _location(self) -> ft.Control:
        s = self.state
        fix = s.location()
        parts: list[ft.Control] = [
            ft.Text(s.location_text(), size=16, color=widgets.INK),
            *self._missing("location"),
        ]
        if fix is not None:
            grid_ok = s.grid() is not None
            parts.append(
                ft.Text(
                    s.grid_text(),
                    size=16,
                    weight=ft.FontWeight.W_600,
                    color=ft.Colors.GREEN_900 if grid_ok else widgets.WARN,
                )
            )
        waiting = s.waiting_message()
        if self.locating:
            parts.append(
                ft.Row([ft.ProgressRing(width=20, height=20), ft.Text(waiting or self.t("report.locating"))])
            )
        elif waiting and fix is not None and fix.source == "gps":
            parts.append(ft.Text(waiting, size=14, color=ft.Colors.ORANGE_900))
        if self.gps_problem:
            parts.append(widgets.message_box(self.gps_problem, error=True))
        buttons: list[ft.Control] = [
            widgets.small_button(self.t("report.locate"), self._locate_tapped, icon=ft.Icons.MY_LOCATION)
        ]
        if s.choice.locked is not None:
            buttons.append(
                widgets.small_button(self.t("report.unlock"), self._unlock, icon=ft.Icons.LOCK_OPEN)
            )
        elif fix is not None:
            buttons.append(widgets.small_button(self.t("report.lock"), self._lock, icon=ft.Icons.LOCK))
        if s.choice.pinned is not None:
            buttons.append(
                widgets.small_button(self.t("report.unpin"), self._unpin, icon=ft.Icons.WRONG_LOCATION)
            )
        buttons.append(widgets.small_button(self.t("report.pin"), self._open_pin, icon=ft.Icons.PUSH_PIN))
        parts.append(ft.Row(buttons, wrap=True, spacing=8))
        return widgets.section(self.t("report.location"), *parts, key="location")

    def _on_spot(self) -> ft.Control:
        s = self.state
        parts: list[ft.Control] = [
            ft.Switch(
                label=self.t("report.on_spot"),
                value=s.on_spot,
                on_change=self._toggle_on_spot,
                label_text_style=ft.TextStyle(size=17, font_family=widgets.FONT_FAMILY),
            )
        ]
        if s.on_spot:
            thumbs = [self._thumb(i, p.thumb) for i, p in enumerate(s.photos) if p.stage == "after"]
            if thumbs:
                parts.append(ft.Row(thumbs, wrap=True, spacing=8))
            buttons = [
                widgets.small_button(self.t("report.after_photo"), self._add_after, icon=ft.Icons.ADD_A_PHOTO)
            ]
            if self.shell.camera is not None:
                buttons.insert(
                    0,
                    widgets.small_button(
                        self.t("report.take_after"), self._shoot_after, icon=ft.Icons.PHOTO_CAMERA
                    ),
                )
            parts.append(ft.Row(buttons, wrap=True, spacing=8))
        parts += self._missing("on_spot")
        return widgets.section(self.t("case.on_spot"), *parts, key="on_spot")

    # --- category picker --------------------------------------------------------------------------
    def _open_picker(self, e: ft.Event) -> None:
        listing = ft.Column(scroll=ft.ScrollMode.AUTO, height=420, width=360, spacing=2)

        def fill(query: str) -> None:
            listing.controls = []
            for group in self.state.category_groups(query):
                listing.controls.append(
                    ft.Container(
                        ft.Text(group.title, size=15, weight=ft.FontWeight.BOLD, color=ft.Colors.BLUE_900),
                        padding=ft.Padding.only(top=10, bottom=2),
                    )
                )
                for c in group.categories:
                    listing.controls.append(
                        ft.ListTile(
                            title=ft.Text(c.name(self.session.tr.lang), size=17),
                            subtitle=ft.Text(c.code),
                            dense=False,
                            on_click=lambda e, code=c.code: self._picked(code),
                        )
                    )

        def searched(e: ft.Event) -> None:
            fill(e.control.value or "")
            listing.update()

        fill("")
        search = widgets.text_field(
            self.t("report.category_search"), on_change=searched, prefix_icon=ft.Icons.SEARCH
        )
        self.page.show_dialog(
            ft.AlertDialog(
                title=ft.Text(self.t("report.category_pick")),
                content=ft.Column([search, listing], tight=True),
                actions=[widgets.dialog_button(self.t("app.cancel"), lambda e: self.page.pop_dialog())],
            )
        )

    def _picked(self, code: str) -> None:
        self.page.pop_dialog()
        self._pick(code)

    def _pick(self, code: str) -> None:
        self.state.pick_category(code)
        self.redraw()

    # --- photos -----------------------------------------------------------------------------------
    async def _add_before(self, e: ft.Event) -> None:
        await self._add_photos("before", self.shell.photos)

    async def _add_after(self, e: ft.Event) -> None:
        await self._add_photos("after", self.shell.photos)

    async def _shoot_before(self, e: ft.Event) -> None:
        if self.shell.camera is not None:
            await self._add_photos("before", self.shell.camera)

    async def _shoot_after(self, e: ft.Event) -> None:
        if self.shell.camera is not None:
            await self._add_photos("after", self.shell.camera)

    async def _add_photos(self, stage: str, source: PhotoSource) -> None:
        """Pictures from the camera or the picker take one path: checked, thumbnailed, kept."""
        self.photo_problem = None
        try:
            images = await source.pick()
        except RuntimeError:
            images = []
            self.photo_problem = self.t("error.no_camera")
        for data in images:
            try:
                await asyncio.to_thread(self.state.add_photo, data, stage)
            except GridsyncError as exc:
                self.photo_problem = self.t("error.photo", reason=self.session.tr.error(exc.code))
        self.redraw()

    def _remove(self, index: int) -> None:
        self.state.remove_photo(index)
        self.redraw()

    # --- location ---------------------------------------------------------------------------------
    async def _locate_tapped(self, e: ft.Event) -> None:
        await self.locate()

    async def locate(self) -> None:
        """Ask the GPS until a good fix arrives or GPS_WAIT_S passes; every fix counts."""
        self.locating, self.gps_problem = True, None
        self.redraw()
        deadline = time.monotonic() + GPS_WAIT_S
        try:
            while time.monotonic() < deadline:
                try:
                    fix = await self.shell.positions.current(min(GPS_TRY_S, deadline - time.monotonic()))
                except LocationUnavailable as exc:
                    self.gps_problem = self.t(f"report.gps.{exc.kind}")
                    break
                self.state.add_fix(fix)
                self.gps_problem = None
                self.redraw()
                if self.state.waiting_message() is None:
                    break
                await asyncio.sleep(1)
        finally:
            self.locating = False
            self.redraw()

    def _lock(self, e: ft.Event) -> None:
        self.state.lock()
        self.redraw()

    def _unlock(self, e: ft.Event) -> None:
        self.state.unlock()
        self.redraw()

    def _unpin(self, e: ft.Event) -> None:
        self.state.unpin()
        self.redraw()

    def _open_pin(self, e: ft.Event) -> None:
        PinDialog(self, self._pinned).open()

    def _pinned(self, lat: float, lon: float) -> None:
        self.state.pin(lat, lon)
        self.redraw()

    def _toggle_on_spot(self, e: ft.Event) -> None:
        self.state.on_spot = bool(e.control.value)
        self.redraw()

    # --- saving -----------------------------------------------------------------------------------
    async def _save(self, e: ft.Event) -> None:
        missing = self.state.missing_fields()
        if missing:
            self.show_missing = True
            self.redraw()
            self.shell.scroll_to(next(iter(missing)))  # the first, from the top
            return
        try:
            await asyncio.to_thread(self.state.save)
        except GridsyncError as exc:
            self.shell.toast(self.session.tr.error(exc.code), error=True)
            self.redraw()
            return
        case_id = self.state.saved_case_id
        self.show_missing = False
        last = self.device.last_sync()
        self.shell.go(f"/case/{case_id}")  # first: a new screen ends the toast shown before it
        self.shell.toast(self.state.saved_message(online=last is not None and last.reached_server))
