"""One JSON log line per request, and its duration in the `gridsync_request_seconds` histogram
(labelled by the route *template*, never the raw path: photo hashes would multiply the series).

A client that hangs up before its request is in (a phone losing signal mid-upload) is logged as
`"outcome": "client_disconnect"` with status 499 (nginx's word for it), without a traceback: it is
not a server error. The line names a device only once its signature was verified
(`request.state.device`, set by `api.signing`), never from the header a stranger can write.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sync_server.metrics import GridsyncMetrics

log = logging.getLogger("gridsync.http")
#: A method label takes these values or "other": a client's made-up methods must not add series.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
PROCESS_EVERY_S = 1.0  # how often a busy process refreshes its memory and CPU gauges
CLIENT_CLOSED = 499


class RequestLog:
    """ASGI middleware: times each HTTP request and logs it as one JSON object."""

    def __init__(self, app: ASGIApp, metrics: GridsyncMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self.process_noted = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}
        outcome = "answered"

        async def remember(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, remember)
        except ClientDisconnect:
            status["code"], outcome = CLIENT_CLOSED, "client_disconnect"
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.request_seconds.observe(seconds, route=route)
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "other"
            self.metrics.requests.inc(route=route, method=method, status=f"{status['code'] // 100}xx")
            if started - self.process_noted > PROCESS_EVERY_S:
                self.process_noted = started
                self.metrics.note_process()
            verified = (scope.get("state") or {}).get("device")
            entry: dict[str, Any] = {
                "method": scope["method"],
                "path": scope["path"],
                "route": route,
                "status": status["code"],
                "ms": round(seconds * 1000, 2),
                "device": verified if isinstance(verified, str) else None,
            }
            if outcome != "answered":
                entry["outcome"] = outcome
            log.info(json.dumps(entry, separators=(",", ":")))
