"""One JSON log line per request, and its duration in the `gridsync_request_seconds` histogram
(labelled by the route *template*, never the raw path: photo hashes would multiply the series)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sync_server.metrics import GridsyncMetrics

log = logging.getLogger("gridsync.http")


class RequestLog:
    """ASGI middleware: times each HTTP request and logs it as one JSON object."""

    def __init__(self, app: ASGIApp, metrics: GridsyncMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def remember(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, remember)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.request_seconds.observe(seconds, route=route)
            headers = dict(scope.get("headers") or [])
            entry: dict[str, Any] = {
                "method": scope["method"],
                "path": scope["path"],
                "route": route,
                "status": status["code"],
                "ms": round(seconds * 1000, 2),
                "device": headers.get(b"x-gridsync-device", b"").decode("latin-1") or None,
            }
            log.info(json.dumps(entry, separators=(",", ":")))
