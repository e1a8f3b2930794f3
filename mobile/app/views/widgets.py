"""Small building blocks every screen uses: big buttons, status chips, sections.

Made for one hand and bright sunlight: touch targets at least 56 px high, dark text on light
backgrounds, status told by words as well as colour.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flet as ft

STATUS_COLOURS = {
    "reported": ft.Colors.BLUE_800,
    "dispatched": ft.Colors.INDIGO_700,
    "handling": ft.Colors.DEEP_ORANGE_800,
    "returned": ft.Colors.BROWN_600,
    "reported_back": ft.Colors.TEAL_800,
    "verified": ft.Colors.CYAN_900,
    "closed": ft.Colors.GREEN_800,
    "rejected": ft.Colors.GREY_700,
    "voided": ft.Colors.GREY_700,
    "duplicate": ft.Colors.GREY_700,
}
INK = ft.Colors.BLACK
#: the main action's colours, as hex so their contrast can be checked (blue 900 under white)
PRIMARY_DARK = "#0D47A1"
ON_PRIMARY = "#FFFFFF"
#: room kept under a screen's content so the floating main action never covers its last line
FLOATING_CLEARANCE = 96
WARN = ft.Colors.RED_800
BIG = 56  # px: the smallest touch target for a primary action
SMALL = 48  # px: the smallest touch target for anything else
#: Set once by the web server when it hands the browser a Chinese font (a button's own text style
#: does not inherit the theme's font family, so every explicit style names it).
FONT_FAMILY: str | None = None


def theme() -> ft.Theme:
    return ft.Theme(
        color_scheme_seed=ft.Colors.BLUE_800,
        visual_density=ft.VisualDensity.COMFORTABLE,
        font_family=FONT_FAMILY,
    )


def big_button(
    text: str,
    on_click: Callable[..., Any] | None,
    *,
    icon: Any = None,
    primary: bool = True,
    disabled: bool = False,
    colour: str | None = None,
) -> ft.Control:
    style = ft.ButtonStyle(
        padding=ft.Padding.symmetric(horizontal=20, vertical=14),
        text_style=ft.TextStyle(size=18, weight=ft.FontWeight.W_600, font_family=FONT_FAMILY),
        shape=ft.RoundedRectangleBorder(radius=12),
        bgcolor=colour,
    )
    cls = ft.FilledButton if primary else ft.OutlinedButton
    return cls(content=text, icon=icon, on_click=on_click, style=style, height=BIG, disabled=disabled)


def small_button(text: str, on_click: Callable[..., Any] | None, *, icon: Any = None) -> ft.Control:
    return ft.OutlinedButton(
        content=text,
        icon=icon,
        on_click=on_click,
        height=SMALL,
        style=ft.ButtonStyle(
            text_style=ft.TextStyle(size=16, font_family=FONT_FAMILY),
            shape=ft.RoundedRectangleBorder(radius=10),
        ),
    )


def dialog_button(
    text: str, on_click: Callable[..., Any] | None, *, primary: bool = False, colour: str | None = None
) -> ft.Control:
    """A dialog's button: 48 px high, 56 for the dialog's main action (Flutter's default is ~40)."""
    style = ft.ButtonStyle(
        padding=ft.Padding.symmetric(horizontal=18, vertical=10),
        text_style=ft.TextStyle(size=17, weight=ft.FontWeight.W_600, font_family=FONT_FAMILY),
        shape=ft.RoundedRectangleBorder(radius=12),
        bgcolor=colour,
    )
    if primary:
        return ft.FilledButton(content=text, on_click=on_click, style=style, height=BIG)
    return ft.TextButton(content=text, on_click=on_click, style=style, height=SMALL)


def main_action(text: str, on_click: Callable[..., Any] | None, *, icon: Any = None) -> ft.Control:
    """The screen's main action, floating above the bottom bar: the strongest contrast on the screen
    (white on PRIMARY_DARK, 10.4:1) and 56 px high."""
    return ft.FloatingActionButton(
        content=text,
        icon=icon,
        on_click=on_click,
        bgcolor=PRIMARY_DARK,
        foreground_color=ON_PRIMARY,
        height=BIG,
        tooltip=text,
        shape=ft.RoundedRectangleBorder(radius=16),
        elevation=6,
    )


def choice_chip(label: str, selected: bool, on_select: Callable[..., Any]) -> ft.Control:
    """A chip to pick with (a filter, a recent category): 48 px high, like every touch target."""
    return ft.Chip(
        label=ft.Text(label, size=15),
        selected=selected,
        on_select=on_select,
        height=SMALL,
        padding=ft.Padding.symmetric(horizontal=6, vertical=8),
    )


def status_chip(status: str, label: str) -> ft.Control:
    return chip(label, STATUS_COLOURS.get(status, ft.Colors.GREY_700))


def chip(label: str, colour: str, *, icon: Any = None) -> ft.Control:
    parts: list[ft.Control] = []
    if icon is not None:
        parts.append(ft.Icon(icon, color=ft.Colors.WHITE, size=16))
    parts.append(ft.Text(label, color=ft.Colors.WHITE, size=14, weight=ft.FontWeight.W_600))
    return ft.Container(
        content=ft.Row(parts, spacing=4, tight=True),
        bgcolor=colour,
        border_radius=14,
        padding=ft.Padding.symmetric(horizontal=10, vertical=4),
    )


def section(title: str, *controls: ft.Control, key: str | None = None) -> ft.Control:
    """A white card with a title; `key` lets the screen scroll to it."""
    return ft.Container(
        key=None if key is None else ft.ScrollKey(key),
        content=ft.Column(
            [ft.Text(title, size=18, weight=ft.FontWeight.BOLD, color=INK), *controls],
            spacing=10,
            tight=True,
            horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
        ),
        padding=ft.Padding.all(14),
        border_radius=12,
        bgcolor=ft.Colors.WHITE,
        border=ft.Border.all(1, ft.Colors.GREY_400),
    )


def message_box(text: str, *, error: bool = False) -> ft.Control:
    colour = WARN if error else ft.Colors.GREEN_900
    return ft.Container(
        content=ft.Row(
            [
                ft.Icon(ft.Icons.ERROR_OUTLINE if error else ft.Icons.CHECK_CIRCLE_OUTLINE, color=colour),
                ft.Text(text, color=colour, size=16, weight=ft.FontWeight.W_600, expand=True),
            ]
        ),
        bgcolor=ft.Colors.RED_50 if error else ft.Colors.GREEN_50,
        border=ft.Border.all(1, colour),
        border_radius=10,
        padding=ft.Padding.all(12),
    )


def fact_rows(pairs: list[tuple[str, str]]) -> list[ft.Control]:
    rows: list[ft.Control] = []
    for label, value in pairs:
        if label:
            rows.append(
                ft.Row(
                    [
                        ft.Text(label, size=15, color=ft.Colors.GREY_800, width=110),
                        ft.Text(value, size=16, color=INK, expand=True, selectable=True),
                    ],
                    vertical_alignment=ft.CrossAxisAlignment.START,
                )
            )
        else:
            rows.append(ft.Text(value, size=16, color=WARN, weight=ft.FontWeight.W_600))
    return rows


def text_field(
    label: str, value: str = "", on_change: Callable[..., Any] | None = None, **kw: Any
) -> ft.TextField:
    return ft.TextField(
        label=label,
        value=value,
        on_change=on_change,
        text_size=18,
        border_radius=10,
        **kw,
    )
