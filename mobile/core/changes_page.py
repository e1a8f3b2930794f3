"""A page of the changes feed, read once: every case parsed *and* kept as the JSON text it came as.

The phone stores the server's case exactly as sent (`server_cases.doc`); parsing the page with
`json.loads` and encoding each case again cost as much as the parse itself on a catch-up. So the
page's top-level object is walked here and each element of `cases` is decoded on its own with the
standard decoder, which says where the element ends: the text between is the case as the server
wrote it. Everything json.loads accepts or refuses is accepted or refused the same way.

Each case goes through `keep` as soon as it is decoded, and only what `keep` returns stays: a
page's thousand parsed documents never live at once, so the garbage collector (whose full passes
grow with everything that survives) has next to nothing to promote and re-scan.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from shared.errors import GridsyncError

_DECODER = json.JSONDecoder()
_WHITESPACE = re.compile(r"[ \t\n\r]*")  # JSON's four, as json.decoder skips them
T = TypeVar("T")
Keep = Callable[[dict[str, Any], str], T]


@dataclass(frozen=True, slots=True)
class ChangesPage(Generic[T]):
    cases: list[T]  # what `keep` made of each (document, its JSON text as received), in page order
    outcomes: list[Any]
    cursor: int
    more: bool
    server_keys: Any
    server: dict[str, Any]  # what the page says of the server: incarnation, device_seq, segment_retention_s


def read_page(plain: bytes, keep: Keep[T]) -> ChangesPage[T]:
    """The page of a changes box's plaintext; `segment.malformed` when it is not what the API says,
    or when `keep` refuses a case (KeyError, ValueError, TypeError)."""
    try:
        fields, cases = _top_level(plain.decode(json.detect_encoding(plain), "surrogatepass"), keep)
        outcomes, cursor = fields["outcomes"], int(fields["cursor"])
        if cases is None or not isinstance(outcomes, list):
            raise TypeError("cases and outcomes are lists")
    except (ValueError, KeyError, TypeError) as exc:
        raise GridsyncError("segment.malformed", "the changes page is not what the API describes") from exc
    server: dict[str, Any] = {
        k: fields[k] for k in ("incarnation", "device_seq", "segment_retention_s") if k in fields
    }
    return ChangesPage(cases, outcomes, cursor, bool(fields.get("more")), fields.get("server_keys"), server)


def _top_level(text: str, keep: Keep[T]) -> tuple[dict[str, Any], list[T] | None]:
    """The page object's members, and what `keep` made of its `cases` (None when absent or not an
    array). A repeated member keeps its last value, as in json.loads."""
    fields: dict[str, Any] = {}
    cases: list[T] | None = None
    i = _expect(text, 0, "{")
    while not text.startswith("}", i):
        if not text.startswith('"', i):
            raise ValueError(f"a member name expected at {i}")
        key, i = _DECODER.raw_decode(text, i)
        i = _expect(text, i, ":")
        if key == "cases":
            cases, i = _cases(text, i, keep)
            fields[key] = cases
        else:
            fields[key], i = _DECODER.raw_decode(text, i)
        i = _skip(text, i)
        if text.startswith(",", i):
            i = _skip(text, i + 1)
            if text.startswith("}", i):
                raise ValueError(f"a member name expected at {i}")
        elif not text.startswith("}", i):
            raise ValueError(f"',' or '}}' expected at {i}")
    if _skip(text, i + 1) != len(text):
        raise ValueError("extra data after the page")
    return fields, cases


def _cases(text: str, i: int, keep: Keep[T]) -> tuple[list[T] | None, int]:
    """The `cases` member at i: what `keep` made of each element when it is an array of objects."""
    if not text.startswith("[", i):
        _, end = _DECODER.raw_decode(text, i)
        return None, end
    cases: list[T] = []
    i = _skip(text, i + 1)
    if text.startswith("]", i):
        return cases, i + 1
    decode = _DECODER.raw_decode
    while True:
        doc, end = decode(text, i)
        if not isinstance(doc, dict):
            raise TypeError("a case is an object")
        cases.append(keep(doc, text[i:end]))
        if text.startswith(",{", end):  # compact, as the server writes it: nothing to skip
            i = end + 1
            continue
        i = _skip(text, end)
        if text.startswith(",", i):
            i = _skip(text, i + 1)
        elif text.startswith("]", i):
            return cases, i + 1
        else:
            raise ValueError(f"',' or ']' expected at {i}")


def _expect(text: str, i: int, char: str) -> int:
    """Skip whitespace, the expected character and whitespace; the index after them."""
    i = _skip(text, i)
    if not text.startswith(char, i):
        raise ValueError(f"{char!r} expected at {i}")
    return _skip(text, i + 1)


def _skip(text: str, i: int) -> int:
    """The index of the first character at or after i that is not whitespace."""
    match = _WHITESPACE.match(text, i)
    assert match is not None  # the pattern matches the empty string
    return match.end()
