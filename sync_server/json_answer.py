"""The JSON form of the API's answers, for answers the server encodes itself.

FastAPI encodes a route's dict with starlette's `JSONResponse.render`: compact separators, UTF-8,
non-ASCII characters as they are, NaN refused. An answer made here as bytes (the enrollment answer,
whose city is encoded once and spliced in) is byte for byte what the route's dict would have been
(tests/server/test_enroll.py holds the two together).
"""

from __future__ import annotations

import json
from typing import Any


def answer_json(value: Any) -> bytes:
    """`value` as FastAPI's `JSONResponse` renders it (plain JSON values only: no models, no dates)."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
    return text.encode("utf-8")
