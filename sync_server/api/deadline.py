"""A deadline on reading a request's body, and no kept-alive connection after a body left unread.

uvicorn bounds the wait for headers (see `api.serving`) and an idle kept-alive connection, but not a
body that trickles in or stops: a route awaiting the next chunk would wait as long as the client
likes. `BodyDeadline` wraps the ASGI `receive` of each HTTP request: a chunk must come within
`idle_s`, and the whole body within `total_s` of the first read; otherwise the route's read raises
`request.timeout` (408), answered like any refusal.

A request answered before its body was read (refused from its headers, rate limited, timed out) is
answered with `Connection: close`: uvicorn would otherwise go on receiving and discarding the rest
of a body the server already refused, for as long as the client cares to send it.
"""

from __future__ import annotations

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import GridsyncError


class BodyDeadline:
    def __init__(self, app: ASGIApp, *, idle_s: float, total_s: float) -> None:
        self.app = app
        self.idle_s = idle_s
        self.total_s = total_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        expects_body = (
            headers.get(b"content-length", b"0") not in (b"0", b"") or b"transfer-encoding" in headers
        )
        done = not expects_body
        started = 0.0

        async def bounded_receive() -> Message:
            nonlocal done, started
            if done:  # the body is in: later reads wait for a disconnect, unbounded
                return await receive()
            now = anyio.current_time()
            if not started:
                started = now
            wait = min(self.idle_s, started + self.total_s - now)
            message: Message | None = None
            if wait > 0:
                with anyio.move_on_after(wait):
                    message = await receive()
            if message is None:
                raise GridsyncError(
                    "request.timeout",
                    f"the body did not arrive in time (idle {self.idle_s:g} s, whole {self.total_s:g} s)",
                )
            if message["type"] != "http.request" or not message.get("more_body", False):
                done = True
            return message

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not done:
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        await self.app(scope, bounded_receive, closing_send)
