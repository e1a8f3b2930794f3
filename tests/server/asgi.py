"""A synchronous face on `httpx.AsyncClient(transport=httpx.ASGITransport(app))`.

Starlette's TestClient is deprecated over httpx; this runs the async client in a blocking portal (an
event loop on a helper thread), so scenario tests read top to bottom without `await`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal


class SyncClient:
    def __init__(self, portal: BlockingPortal, client: httpx.AsyncClient) -> None:
        self._portal = portal
        self._client = client

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        response: httpx.Response = self._portal.call(lambda: self._client.request(method, url, **kw))
        return response

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def put(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", url, **kw)


@contextmanager
def asgi_client(app: Any, *, raise_app_exceptions: bool = True) -> Iterator[SyncClient]:
    with start_blocking_portal() as portal:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
        client = httpx.AsyncClient(transport=transport, base_url="http://gridsync.test")
        try:
            yield SyncClient(portal, client)
        finally:
            portal.call(client.aclose)
