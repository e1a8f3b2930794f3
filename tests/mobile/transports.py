"""An httpx transport in front of the real server that can cut, drop and stall requests, and counts
what actually reached the server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

# What to do with one request: "pass", "down" (never reaches the server), "lose_answer" (reaches the
# server, the answer is lost), "hang" (never answers).
Decision = Callable[[httpx.Request], str]


@dataclass
class FaultyTransport(httpx.AsyncBaseTransport):
    inner: httpx.AsyncBaseTransport
    decide: Decision = field(default=lambda _: "pass")
    photo_bytes_arrived: int = 0
    requests: list[str] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        decision = self.decide(request)
        self.requests.append(f"{request.method} {request.url.path} {decision}")
        if decision == "down":
            raise httpx.ConnectError("network is down", request=request)
        if decision == "hang":
            await asyncio.sleep(3600)
        body = await request.aread()
        response = await self.inner.handle_async_request(request)
        await response.aread()
        if (
            request.method == "PUT"
            and request.url.path.startswith("/v1/photos/")
            and response.status_code == 200
        ):
            self.photo_bytes_arrived += len(body)
        if decision == "lose_answer":
            raise httpx.ReadError("connection reset", request=request)
        return response


def always(decision: str) -> Decision:
    return lambda _: decision
