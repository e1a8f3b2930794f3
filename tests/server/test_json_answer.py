"""`sync_server.json_answer.plain_answer_json` writes what the standard library wrote (Starlette's
`JSONResponse` for a push's receipt, the changes feed for a page's outcomes): the same bytes for
every plain value, the same refusals for what JSON cannot carry."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_server.json_answer import plain_answer_json as encode


def _std(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)  # what UTF-8 can hold
_PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(_TEXT, inner, max_size=6),
    max_leaves=40,
)


@settings(max_examples=500)
@given(_PLAIN)
def test_plain_values_encode_to_the_standard_librarys_bytes(value: Any) -> None:
    assert encode(value) == _std(value)


def test_every_character_and_the_integers_at_orjsons_limits_encode_the_same() -> None:
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    value = {"text": every, "ints": [2**63 - 1, -(2**63), 2**64, -(2**64) - 1, 10**40], 7: "int key"}
    assert encode(value) == _std(value)


def test_a_lone_surrogate_is_refused_as_before() -> None:
    with pytest.raises(UnicodeEncodeError):
        _std({"detail": "\ud83d"})
    with pytest.raises(UnicodeEncodeError):
        encode({"detail": "\ud83d"})
