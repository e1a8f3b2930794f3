"""A fault-injecting httpx transport between a phone and the server.

Wraps any `httpx.AsyncBaseTransport` (the in-process ASGI transport here). For each request a seeded
random draw picks at most one fault:

- `drop_request`: the request never reaches the server (connection refused).
- `drop_response`: the server handles the request, the answer is lost (read error).
- `duplicate`: the request reaches the server twice; the phone sees one of the answers.
- `delay`: held back a little, so concurrent requests overtake each other (reordering).
- `replay_old`: an earlier request of this phone, byte for byte, reaches the server again first
  (a retransmission arriving late, out of order).
- `truncate_request`: the body is cut in half on the way (Content-Length adjusted to match).
- `truncate_response`: the answer's body is cut in half on the way back (as it crossed the wire: a
  gzip-compressed receipt arrives as half a gzip stream).

`enabled = False` makes it a plain pass-through: the faults stop, and the phones must converge.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import httpx

FAULTS = ("drop_request", "drop_response", "duplicate", "delay", "replay_old", "truncate_request",
          "truncate_response")  # fmt: skip


class FaultyTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, seed: int, rate: float = 0.35) -> None:
        self.inner = inner
        self.rng = random.Random(seed)
        self.rate = rate
        self.enabled = True
        self.injected: Counter[str] = Counter()
        self.requests = 0
        self._history: list[httpx.Request] = []

    @staticmethod
    def _copy(request: httpx.Request, body: bytes | None = None) -> httpx.Request:
        content = request.content if body is None else body
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() != "content-length"]
        return httpx.Request(request.method, request.url, headers=headers, content=content)

    async def _send(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        raw = b"".join([chunk async for chunk in response.aiter_raw()])  # as it crossed: gzip stays gzip
        await response.aclose()
        return self._answer(response, raw, request)

    @staticmethod
    def _answer(response: httpx.Response, raw: bytes, request: httpx.Request) -> httpx.Response:
        """The answer as the wire carries it (the client above undoes any content-encoding)."""
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() != "content-length"]
        return httpx.Response(
            response.status_code, headers=headers, stream=httpx.ByteStream(raw), request=request
        )

    @staticmethod
    def _raw(response: httpx.Response) -> bytes:
        stream = response.stream
        assert isinstance(stream, httpx.ByteStream)
        return b"".join(stream)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests += 1
        if not self.enabled:
            return await self._send(self._copy(request))
        fault = self.rng.choice(FAULTS) if self.rng.random() < self.rate else None
        if fault:
            self.injected[fault] += 1
        self._history.append(self._copy(request))
        del self._history[:-20]
        if fault == "drop_request":
            raise httpx.ConnectError("injected: request dropped", request=request)
        if fault == "delay":
            await asyncio.sleep(self.rng.uniform(0.001, 0.03))
        if fault == "replay_old" and len(self._history) > 1:
            await self._send(self._copy(self.rng.choice(self._history[:-1])))
        if fault == "truncate_request" and request.content:
            return await self._send(self._copy(request, request.content[: len(request.content) // 2]))
        response = await self._send(self._copy(request))
        if fault == "duplicate":
            again = await self._send(self._copy(request))
            response = self.rng.choice((response, again))
        if fault == "drop_response":
            raise httpx.ReadError("injected: response lost", request=request)
        raw = self._raw(response)
        if fault == "truncate_response" and raw:
            return self._answer(response, raw[: len(raw) // 2], request)  # a gzip body, cut, too
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()
