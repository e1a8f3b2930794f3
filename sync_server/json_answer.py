"""The JSON form of the API's answers, for answers the server encodes itself.

FastAPI encodes a route's dict with starlette's `JSONResponse.render`: compact separators, UTF-8,
non-ASCII characters as they are, NaN refused. An answer made here as bytes (the enrollment answer,
whose city is encoded once and spliced in; receipts; the changes feed's page tail) is byte for byte
what the route's dict would have been (tests/server/test_enroll.py and test_json_answer.py hold
them together).

- `answer_json(value)`: any plain JSON value, floats included (the standard library's encoder).
- `plain_answer_json(value)`: the same bytes, ~15× faster, for values of text, integers, booleans,
  None, lists and dicts with text keys — no floats. orjson writes every character of a string and
  every integer as the standard library does (checked over all of Unicode): ~0.04 ms for a 200-op
  segment's receipt where the standard library takes ~0.6. What orjson refuses (integers beyond 64
  bits, a lone surrogate, a key that is not text) goes the standard library's way, which writes it
  or raises as it did. Not for floats: the two spell some differently (`1e+16` / `1e16`, NaN).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_encode_std = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def answer_json(value: Any) -> bytes:
    """`value` as FastAPI's `JSONResponse` renders it (plain JSON values only: no models, no dates)."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
    return text.encode("utf-8")


def plain_answer_json(value: Any) -> bytes:
    """`answer_json(value)` for a value with no floats in it, written by orjson (see above)."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return _encode_std(value).encode("utf-8")
