"""Which threads JSON-encode what: every `json.JSONEncoder.encode` recorded with its thread (the
real encoder runs), and an app wrapper that records the event loop's thread. An answer that an
async route hands FastAPI as a dict is encoded on the loop, while every other request waits."""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass
class Encodings:
    marker: str
    loop_threads: set[int] = field(default_factory=set)
    marked_on: list[int] = field(default_factory=list)  # threads that encoded a text with the marker

    def wrap(self, app: Any) -> Any:
        async def on_the_loop(scope: Any, receive: Callable[[], Awaitable[Any]], send: Any) -> None:
            self.loop_threads.add(threading.get_ident())
            await app(scope, receive, send)

        return on_the_loop

    @property
    def on_the_loop(self) -> bool:
        return bool(self.loop_threads & set(self.marked_on))


def record(monkeypatch: pytest.MonkeyPatch, marker: str) -> Encodings:
    """Record from now on every encoding whose text holds `marker`, with its thread."""
    seen = Encodings(marker)
    encode = json.JSONEncoder.encode

    def recorded(encoder: json.JSONEncoder, value: Any) -> str:
        text: str = encode(encoder, value)
        if marker in text:
            seen.marked_on.append(threading.get_ident())
        return text

    monkeypatch.setattr(json.JSONEncoder, "encode", recorded)
    return seen
