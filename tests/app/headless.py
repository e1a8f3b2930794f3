"""A Flet page with no Flutter client: a small fake session under `ft.Page` (see FLET.md), so the
shell and its screens can be built and their handlers called in a plain asyncio test."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterator
from typing import Any

import flet as ft
from flet.controls.context import _context_page

from mobile.app.state.adapters import LocationUnavailable
from mobile.core.location import Fix


class _Connection:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.page_name = ""
        self.page_url = "http://headless"


class _Session:
    """What `ft.Page` asks of its session; updates are counted, never sent."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.index: dict[int, Any] = {}
        self.connection = _Connection(loop)
        self.updates = 0

    def patch_control(self, control: Any) -> None:
        self.updates += 1

    def schedule_update(self, control: Any) -> None:
        self.updates += 1

    def schedule_effect(self, *args: Any, **kwargs: Any) -> None:
        pass

    def start_updates_scheduler(self) -> None:
        pass

    async def after_event(self, control: Any) -> None:
        pass

    def error(self, message: str) -> None:
        raise AssertionError(message)


def page() -> ft.Page:
    """A page made current, so services created now register with it. Call inside a running loop."""
    session = _Session(asyncio.get_running_loop())
    made = ft.Page(sess=session)  # type: ignore[arg-type]
    made.data = {"headless session": session}  # the page holds its session weakly: keep it alive
    # Dialogs are mounted by the client: with no client, mount them here so they can update.
    object.__setattr__(made._dialogs, "_parent", weakref.ref(made))
    show = made.show_dialog

    def show_dialog(dialog: Any) -> None:
        object.__setattr__(dialog, "_parent", weakref.ref(made._dialogs))
        show(dialog)

    object.__setattr__(made, "show_dialog", show_dialog)
    _context_page.set(made)
    return made


class NoGps:
    async def current(self, timeout_s: float) -> Fix:
        raise LocationUnavailable("no GPS in a test")


class NoPictures:
    async def pick(self) -> list[bytes]:
        return []


def texts(control: Any) -> Iterator[str]:
    """Every text a control tree shows, depth first."""
    if isinstance(control, ft.Text) and control.value:
        yield str(control.value)
    for child in getattr(control, "controls", None) or []:
        yield from texts(child)
    content = getattr(control, "content", None)
    if isinstance(content, str):
        yield content
    elif content is not None:
        yield from texts(content)


def has(control: Any, kind: type) -> bool:
    if isinstance(control, kind):
        return True
    children = list(getattr(control, "controls", None) or [])
    content = getattr(control, "content", None)
    if content is not None and not isinstance(content, str):
        children.append(content)
    return any(has(child, kind) for child in children)
