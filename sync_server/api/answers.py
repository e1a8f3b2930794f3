"""JSON answers made in a worker thread and, when the client accepts it, sent gzip-compressed.

A segment's receipt names every op's outcome (~130 bytes of JSON each: two random ids among them),
so a 500-op receipt is ~65 kB; gzip takes it to about a third. A phone pays for every byte it
receives (data plan and battery), and its HTTP client (httpx) asks for gzip by default.

Guarantees:
- `packed_json(value, accept)` is `(body, headers)`: `body` is the JSON exactly as FastAPI's
  `JSONResponse` renders `value` (`json_answer.plain_answer_json`: a value with no floats),
  gzip-compressed when `accept`
  (the request's Accept-Encoding) allows gzip and the JSON is at least `GZIP_MIN_BYTES`; then
  `headers` says `content-encoding: gzip`. Decompressed, the body is the same bytes either way.
- Every answer that could have been compressed carries `vary: accept-encoding`, so a cache in
  between never hands a compressed answer to a client that did not ask for one.
- Pure CPU work with no shared state: safe to run in any thread (it is meant for `run_in_threadpool`,
  so that neither the encoding nor the compression runs on the event loop).
"""

from __future__ import annotations

import zlib
from typing import Any

from fastapi import Response

from sync_server.json_answer import plain_answer_json

#: Below this, the gzip header and trailer (18 bytes) and the work are not worth it.
GZIP_MIN_BYTES = 1024
GZIP_LEVEL = 6
_GZIP_WBITS = 16 + 15  # a gzip wrapper (RFC 1952) around deflate with a 32 KiB window


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header allows gzip (RFC 9110 12.5.3): `gzip`, `x-gzip` or `*`
    with a q-value above 0 (an explicit `gzip;q=0` refuses it, whatever `*` says)."""
    allowed: dict[str, bool] = {}
    for item in accept_encoding.split(","):
        name, _, params = item.strip().partition(";")
        name = name.strip().lower()
        if not name:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        allowed["gzip" if name == "x-gzip" else name] = q > 0
    if "gzip" in allowed:
        return allowed["gzip"]
    return allowed.get("*", False)


def packed_json(value: Any, accept_encoding: str) -> tuple[bytes, dict[str, str]]:
    """The answer's body and its encoding headers (see the module's guarantees)."""
    body = plain_answer_json(value)
    if len(body) < GZIP_MIN_BYTES:
        return body, {}
    headers = {"vary": "accept-encoding"}
    if not accepts_gzip(accept_encoding):
        return body, headers
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, _GZIP_WBITS)
    return compressor.compress(body) + compressor.flush(), {**headers, "content-encoding": "gzip"}


def packed_response(packed: tuple[bytes, dict[str, str]], status_code: int = 200) -> Response:
    """A response of what `packed_json` made."""
    body, headers = packed
    return Response(body, status_code=status_code, headers=headers, media_type="application/json")
