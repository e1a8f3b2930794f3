"""One case: header facts, problems, what I can do, photos by stage, notes, timeline."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import flet as ft

from mobile.app.state.case_detail import ActionSpec, CaseState, Suggestion
from mobile.app.views import widgets
from mobile.app.views.screen import Frame, Screen
from shared.errors import GridsyncError
from shared.model import Photo

DANGER = {"reject", "void", "rework", "send_back", "deny_extension"}


class CaseScreen(Screen):
    nav_key = "home"

    def __init__(self, shell: Frame, case_id: str) -> None:
        super().__init__(shell)
        self.route = f"/case/{case_id}"
        self.state = CaseState(self.device, self.session.tr, case_id)
        self._note_field: ft.TextField | None = None

    def title(self) -> str:
        v = self.state.view()
        if v is None:
            return self.t("case.title")
        return self.t("case.number", no=v.case.case_no) if v.case.case_no else self.t("case.title")

    def body(self) -> list[ft.Control]:
        s = self.state
        v = s.view()
        if v is None:
            return [widgets.message_box(self.t("case.not_found"), error=True)]
        c = v.case
        category = next((x for x in self.device.categories() if x.code == c.category), None)
        head: list[ft.Control] = [
            ft.Text(
                category.name(self.session.tr.lang) if category else c.category,
                size=22,
                weight=ft.FontWeight.BOLD,
                color=widgets.INK,
            ),
        ]
        marks: list[ft.Control] = [widgets.status_chip(str(c.status), self.session.tr.status(str(c.status)))]
        if v.overdue:
            marks.append(widgets.chip(self.t("home.overdue"), widgets.WARN, icon=ft.Icons.ALARM))
        if v.pending:
            marks.append(
                widgets.chip(self.t("home.not_synced"), ft.Colors.ORANGE_900, icon=ft.Icons.CLOUD_UPLOAD)
            )
        head.append(ft.Row(marks, wrap=True, spacing=6))
        out: list[ft.Control] = [ft.Column(head, spacing=8)]
        if s.error:
            out.append(widgets.message_box(s.error, error=True))
        elif s.message:
            out.append(widgets.message_box(s.message))
        problems = s.problems()
        if problems:
            out.append(
                widgets.section(
                    self.t("case.problems"), *[ft.Text(p, size=16, color=widgets.WARN) for p in problems]
                )
            )
        if s.actions():
            out.append(self._actions())
        conflicts = s.open_conflicts()
        if conflicts:
            out.append(self._conflicts(conflicts))
        suggestions = s.duplicate_suggestions()
        if suggestions:
            out.append(self._duplicates(suggestions))
        if s.can_edit_public_text():
            out.append(
                widgets.section(
                    self.t("case.public_text"),
                    ft.Text(self.t("case.public_text_hint"), size=15),
                    widgets.small_button(self.t("case.public_text"), self._public_text, icon=ft.Icons.PUBLIC),
                )
            )
        out.append(widgets.section(self.t("case.status"), *widgets.fact_rows(s.facts())))
        out.append(self._photos())
        out.append(self._notes())
        timeline = s.timeline()
        if timeline:
            out.append(
                widgets.section(
                    self.t("case.timeline"),
                    *[ft.Text(f"{line.when}  {line.text}  ({line.outcome})", size=15) for line in timeline],
                )
            )
        return out

    # --- parts ------------------------------------------------------------------------------------
    def _actions(self) -> ft.Control:
        actions = self.state.actions()
        if not actions:
            return widgets.section(self.t("case.actions"), ft.Text(self.t("case.no_actions"), size=16))
        buttons = [
            widgets.big_button(
                a.label,
                self._act_handler(a),
                primary=a.action not in DANGER,
                colour=ft.Colors.GREEN_800 if a.action == "close" else None,
            )
            for a in actions
        ]
        return widgets.section(self.t("case.actions"), *buttons)

    def _conflicts(self, conflicts: list) -> ft.Control:  # type: ignore[type-arg]
        rows: list[ft.Control] = []
        for cf in conflicts:
            rows.append(
                ft.Text(self.t("case.conflict", field=cf.field, kept=cf.kept, proposed=cf.proposed), size=16)
            )
            rows.append(
                ft.Row(
                    [
                        widgets.small_button(
                            self.t("case.keep"), lambda e, i=cf.conflict_id: self._resolve(i, "keep")
                        ),
                        widgets.small_button(
                            self.t("case.take"), lambda e, i=cf.conflict_id: self._resolve(i, "take")
                        ),
                    ],
                    wrap=True,
                )
            )
        return widgets.section(self.t("action.resolve"), *rows)

    def _duplicates(self, suggestions: list[Suggestion]) -> ft.Control:
        rows: list[ft.Control] = [ft.Text(self.t("case.duplicates_hint"), size=15)]
        for sg in suggestions:
            rows.append(ft.Text(sg.title, size=16, weight=ft.FontWeight.BOLD, color=widgets.INK))
            rows.append(ft.Text(sg.detail, size=15))
            rows.append(
                widgets.small_button(
                    self.t("case.link_duplicate"), lambda e, i=sg.case_id: self._link(i), icon=ft.Icons.LINK
                )
            )
        return widgets.section(self.t("case.duplicates"), *rows)

    def _link(self, original_id: str) -> None:
        """Asked first: a case linked as a duplicate ends its handling."""

        def link(e: ft.Event) -> None:
            self.page.pop_dialog()
            self.state.link_duplicate(original_id)
            self.redraw()

        self.page.show_dialog(
            ft.AlertDialog(
                title=ft.Text(self.t("action.link_duplicate")),
                content=ft.Text(self.t("case.confirm.link_duplicate"), size=16),
                actions=[
                    widgets.dialog_button(self.t("app.cancel"), lambda e: self.page.pop_dialog()),
                    widgets.dialog_button(self.t("action.link_duplicate"), link, primary=True),
                ],
            )
        )

    def _photos(self) -> ft.Control:
        parts: list[ft.Control] = []
        for label, photos in self.state.photos_by_stage():
            if not photos:
                continue
            parts.append(ft.Text(f"{label} ({len(photos)})", size=16, weight=ft.FontWeight.W_600))
            parts.append(ft.Row([self._thumb(p) for p in photos], wrap=True, spacing=8))
        if not parts:
            parts.append(ft.Text(self.t("case.no_photos"), size=16))
        return widgets.section(self.t("case.photos"), *parts)

    def _thumb(self, photo: Photo) -> ft.Control:
        data = self.state.thumbnail(photo)
        if data is None:
            inner: ft.Control = ft.Container(
                ft.Text(self.t("case.photo_missing"), size=12, text_align=ft.TextAlign.CENTER),
                width=110,
                height=110,
                bgcolor=ft.Colors.GREY_300,
                alignment=ft.Alignment.CENTER,
                border_radius=8,
            )
        else:
            inner = ft.Image(src=data, width=110, height=110, fit=ft.BoxFit.COVER, border_radius=8)
        return ft.Container(inner, on_click=lambda e: self._enlarge(photo), tooltip=self.t("case.enlarge"))

    def _notes(self) -> ft.Control:
        notes = self.state.notes()
        lines: list[ft.Control] = [
            ft.Text(f"{self.session.tr.when(n.captured_at)} {self.state.person(n.author)}: {n.text}", size=16)
            for n in notes
        ]
        # the screen is drawn again after every sync round: keep what is half typed
        typed = self._note_field.value if self._note_field is not None else ""
        field = widgets.text_field(self.t("case.note_text"), typed or "", multiline=True)
        self._note_field = field
        lines += [
            field,
            widgets.small_button(self.t("case.add_note"), self._add_note, icon=ft.Icons.NOTE_ADD),
        ]
        return widgets.section(self.t("case.notes"), *lines)

    # --- handlers ---------------------------------------------------------------------------------
    def _enlarge(self, photo: Photo) -> None:
        data = self.state.full_photo(photo) or self.state.thumbnail(photo)
        if data is None:
            return
        self.page.show_dialog(
            ft.AlertDialog(
                content=ft.Image(src=data, fit=ft.BoxFit.CONTAIN, width=360),
                actions=[widgets.dialog_button(self.t("app.close"), lambda e: self.page.pop_dialog())],
            )
        )

    def _add_note(self, e: ft.Event) -> None:
        field = self._note_field
        if field is not None and self.state.add_note(field.value or ""):
            field.value = ""
        self.redraw()

    def _public_text(self, e: ft.Event) -> None:
        """Ask for the text in a dialog; it is sent at once (online only) and the screen says how it went."""
        field = widgets.text_field(self.t("case.public_text"), multiline=True)

        async def save(e: ft.Event) -> None:
            self.page.pop_dialog()
            await self.state.set_public_text(field.value or "")
            self.redraw()

        self.page.show_dialog(
            ft.AlertDialog(
                title=ft.Text(self.t("case.public_text")),
                content=ft.Column(
                    [ft.Text(self.t("case.public_text_hint"), size=15), field],
                    tight=True,
                    width=340,
                    spacing=12,
                ),
                actions=[
                    widgets.dialog_button(self.t("app.cancel"), lambda e: self.page.pop_dialog()),
                    widgets.dialog_button(self.t("app.confirm"), save, primary=True),
                ],
            )
        )

    def _resolve(self, conflict_id: str, choice: str) -> None:
        self.state.resolve(conflict_id, choice)
        self.redraw()

    def _act_handler(self, spec: ActionSpec):  # type: ignore[no-untyped-def]
        async def tapped(e: ft.Event) -> None:
            await self._act(spec)

        return tapped

    async def _act(self, spec: ActionSpec) -> None:
        if not spec.needs_input:
            await self._perform(spec)
            return
        ActionDialog(self, self.state, spec, self._perform).open()

    async def _perform(self, spec: ActionSpec, **kw: object) -> None:
        await asyncio.to_thread(lambda: self.state.perform(spec.action, **kw))  # type: ignore[arg-type]
        self.redraw()


class ActionDialog:
    """Reason, extra hours, department and the stage photo a move needs — asked in one dialog; a move
    that cannot be taken back (approving a closure) is confirmed here first. `perform` saves it."""

    def __init__(
        self,
        screen: Screen,
        state: CaseState,
        spec: ActionSpec,
        perform: Callable[..., Awaitable[None]],
    ) -> None:
        self.screen = screen
        self.state = state
        self.spec = spec
        self.perform = perform
        self.photo: bytes | None = None
        self.thumb: bytes | None = None
        self.problem: str | None = None

    def open(self) -> None:
        t, spec = self.screen.t, self.spec
        self.reason = widgets.text_field(t("case.reason"), multiline=True) if spec.needs_reason else None
        self.hours = (
            widgets.text_field(t("case.hours"), "8", keyboard_type=ft.KeyboardType.NUMBER)
            if spec.needs_hours
            else None
        )
        self.department = None
        if spec.needs_department:
            pairs = self.state.departments()
            self.department = ft.Dropdown(
                label=t("case.department_pick"),
                value=pairs[0][0] if pairs else None,
                options=[ft.DropdownOption(key=code, text=name) for code, name in pairs],
                width=320,
            )
        self.column = ft.Column(tight=True, width=340, spacing=12)
        self._fill()
        self.screen.page.show_dialog(
            ft.AlertDialog(
                title=ft.Text(spec.label),
                content=self.column,
                actions=[
                    widgets.dialog_button(t("app.cancel"), lambda e: self.screen.page.pop_dialog()),
                    widgets.dialog_button(
                        spec.label if spec.confirm else t("app.confirm"), self._confirm, primary=True
                    ),
                ],
            )
        )

    def _fill(self) -> None:
        t, spec = self.screen.t, self.spec
        controls: list[ft.Control] = [c for c in (self.reason, self.hours, self.department) if c is not None]
        if spec.confirm:
            controls.insert(0, ft.Text(spec.confirm, size=17, color=widgets.INK))
        if spec.photo_stage:
            stage = t(f"stage.{spec.photo_stage}")
            if spec.photo_required:
                controls.append(ft.Text(t("case.needs_photo", stage=stage), size=15))
            if self.thumb is not None:
                controls.append(
                    ft.Image(src=self.thumb, width=120, height=120, fit=ft.BoxFit.COVER, border_radius=8)
                )
            controls.append(
                widgets.small_button(
                    t("case.add_stage_photo", stage=stage), self._pick, icon=ft.Icons.ADD_A_PHOTO
                )
            )
        if self.problem:
            controls.append(ft.Text(self.problem, color=widgets.WARN, size=15))
        self.column.controls = controls

    async def _pick(self, e: ft.Event) -> None:
        from mobile.core.photos import prepare_photo

        try:
            images = await self.screen.shell.photos.pick()
        except RuntimeError:
            images = []
        if images:
            try:
                prepared = await asyncio.to_thread(prepare_photo, images[0], max_side=640, thumb_side=240)
            except GridsyncError as exc:
                self.problem = self.screen.t("error.photo", reason=self.screen.session.tr.error(exc.code))
            else:
                self.photo, self.thumb, self.problem = images[0], prepared.thumb, None
        self._fill()
        self.screen.page.update()

    async def _confirm(self, e: ft.Event) -> None:
        t, spec = self.screen.t, self.spec
        kw: dict[str, object] = {}
        if self.reason is not None:
            if not (self.reason.value or "").strip():
                self.problem = self.screen.session.tr.error("case.reason_required")
                self._fill()
                return
            kw["reason"] = self.reason.value or ""
        if self.hours is not None:
            try:
                kw["hours"] = float(self.hours.value or "")
            except ValueError:
                self.problem = t("case.hours_invalid")
                self._fill()
                return
        if self.department is not None:
            kw["department"] = self.department.value
        if spec.photo_required and self.photo is None:
            self.problem = t("case.needs_photo", stage=t(f"stage.{spec.photo_stage}"))
            self._fill()
            return
        if self.photo is not None:
            kw["photo"] = self.photo
        self.screen.page.pop_dialog()
        await self.perform(spec, **kw)
