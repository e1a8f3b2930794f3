"""The server's HTTP API (docs/http-api.md) as async calls: one code path, every request signed.

This layer turns transport failures into `NetworkError` and the server's refusals (`{"error": {...}}`
with a catalogue code) into `GridsyncError`, so the layers above only ever see those two. The phone's
clock can be wrong; when the server refuses a timestamp (`request.expired`) the offset is learnt from
the response's `Date` header and the request is signed again once.

A server that is too busy for this phone answers `request.rate_limited` (429) with `Retry-After`.
The wait is kept in a `RetryGate` the device shares between its rounds: until it has passed, every
request is refused here, without a byte sent (`request.rate_limited` again, with the seconds left),
and the sync loop sleeps until then instead of retrying.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import random
from collections.abc import AsyncGenerator, Callable
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mobile.core.errors import NetworkError
from shared.auth import new_nonce, sign_request
from shared.errors import CATALOGUE, GridsyncError

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def _refusal(response: httpx.Response) -> Exception:
    """The error a non-2xx answer stands for."""
    try:
        error = response.json().get("error")
        code = error.get("code")
    except (ValueError, AttributeError):
        error, code = None, None
    if isinstance(code, str) and code in CATALOGUE:
        context = error.get("context") if isinstance(error, dict) else None
        return GridsyncError(
            code,
            str(error.get("detail", "")) if isinstance(error, dict) else "",
            context=context if isinstance(context, dict) else None,
        )
    if response.status_code >= 500 or code is None:
        return NetworkError(f"HTTP {response.status_code} from the server", status=response.status_code)
    return GridsyncError("request.malformed", f"unknown error code {code!r} (HTTP {response.status_code})")


def _server_date(response: httpx.Response) -> int | None:
    value = response.headers.get("date")
    if not value:
        return None
    try:
        return int(email.utils.parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError):
        return None


def retry_after(response: httpx.Response, now: int) -> int | None:
    """The seconds a `Retry-After` header asks for (delta-seconds or an HTTP date), if any."""
    value = response.headers.get("retry-after", "").strip()
    if value.isdigit():
        return int(value)
    try:
        return (
            max(0, math.ceil(email.utils.parsedate_to_datetime(value).timestamp() - now)) if value else None
        )
    except (TypeError, ValueError):
        return None


class RetryGate:
    """Until when the server asked this phone to wait, on the phone's clock (seconds since the epoch).
    At most `max_wait` seconds are honoured, so a wrong header or a clock jump cannot stop sync."""

    def __init__(self, max_wait: int = 3600) -> None:
        self.until = 0
        self.max_wait = max_wait

    def hold(self, now: int, seconds: int) -> None:
        self.until = max(self.until, now + min(seconds, self.max_wait))

    def remaining(self, now: int) -> int:
        return max(0, min(self.until - now, self.max_wait))


class Connections:
    """The phone's one HTTP client, kept from round to round so that its connections (and their TLS
    sessions) are reused instead of being opened again for every sync — on a phone, battery.

    A client and its connections belong to the event loop they were made in. `client()` makes one on
    first use in a loop and hands the same one out until `close()`; called from another loop (tools
    and tests run one `asyncio.run` per call), it closes the old one and makes a new one. When a loop
    is shut down by `asyncio.run` (`loop.shutdown_asyncgens`) its client is closed in it, so no
    connection outlives its loop. `opened` counts the clients made."""

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.transport = transport
        self.opened = 0
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lifetime: AsyncGenerator[None, None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    async def client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is not None and self._loop is loop and not self._client.is_closed:
            return self._client
        self.close()
        client = httpx.AsyncClient(transport=self.transport, timeout=DEFAULT_TIMEOUT)
        lifetime = _closed_with_the_loop(client)
        await anext(lifetime)  # registered with this loop's async generators: closed at its shutdown
        self._client, self._loop, self._lifetime = client, loop, lifetime
        self.opened += 1
        return client

    def close(self) -> None:
        """Close the client (sign-out, the device closed). Safe from inside or outside its loop; a
        closed loop has closed it already."""
        client, loop, lifetime = self._client, self._loop, self._lifetime
        self._client = self._loop = self._lifetime = None
        if client is None or loop is None or lifetime is None or loop.is_closed() or client.is_closed:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            task = loop.create_task(_finish(lifetime))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        elif not loop.is_running():
            loop.run_until_complete(_finish(lifetime))
        else:  # running in another thread: close it there
            asyncio.run_coroutine_threadsafe(_finish(lifetime), loop)

    async def aclose(self) -> None:
        """`close()`, awaited when called from the client's own loop."""
        lifetime, loop = self._lifetime, self._loop
        if lifetime is not None and loop is asyncio.get_running_loop():
            self._client = self._loop = self._lifetime = None
            await _finish(lifetime)
        else:
            self.close()


async def _closed_with_the_loop(client: httpx.AsyncClient) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await client.aclose()


async def _finish(lifetime: AsyncGenerator[None, None]) -> None:
    await lifetime.aclose()


class ServerApi:
    """One server, one device. `clock_offset` (seconds) is added to the phone's clock when signing.

    With `client` (the device's long-lived one, `Connections.client()`), requests go through it and
    `aclose()` leaves it open; without, this object makes its own client and closes it in `aclose()`."""

    def __init__(
        self,
        base_url: str,
        *,
        clock: Callable[[], int],
        transport: httpx.AsyncBaseTransport | None = None,
        device_id: str | None = None,
        signing_key: Ed25519PrivateKey | None = None,
        clock_offset: int = 0,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retries: int = 2,
        retry_delay: float = 0.5,
        gate: RetryGate | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self.device_id = device_id
        self.signing_key = signing_key
        self.clock_offset = clock_offset
        self.timeout = timeout
        self._owns_client = client is None
        self.client = client or httpx.AsyncClient(transport=transport, timeout=timeout)
        self.bytes_sent = 0
        self.retries = retries
        self.retry_delay = retry_delay
        self.gate = gate or RetryGate()

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    async def _send(self, request: httpx.Request) -> httpx.Response:
        """Send. A connection that could not be made is retried a few times with exponential backoff
        and jitter: nothing left the phone, so nothing is sent twice. A request cut after it left is
        not retried here, nor an answer that arrived damaged (its content-encoding cannot be
        undone); the next round asks the server where things stand (photo status, segment
        receipts) and continues from there."""
        attempt = 0
        while True:
            try:
                return await self.client.send(request)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                if attempt >= self.retries:
                    raise NetworkError(f"cannot reach the server: {exc!s}"[:300]) from exc
            except httpx.TimeoutException as exc:
                raise NetworkError(f"the server did not answer in time ({type(exc).__name__})") from exc
            except httpx.TransportError as exc:
                raise NetworkError(f"the connection to the server broke: {exc!s}"[:300]) from exc
            except httpx.DecodingError as exc:  # a compressed answer damaged on the way
                raise NetworkError(f"the server's answer arrived damaged: {exc!s}"[:300]) from exc
            await asyncio.sleep(self.retry_delay * 2**attempt * random.uniform(0.5, 1.5))
            attempt += 1

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        content: bytes = b"",
        headers: dict[str, str] | None = None,
        signed: bool = True,
    ) -> httpx.Response:
        """Send one request; a 2xx response or an exception (GridsyncError / NetworkError)."""
        wait = self.gate.remaining(self.clock())
        if wait > 0:
            raise GridsyncError(
                "request.rate_limited",
                f"the server asked to wait {wait} s more",
                context={"retry_after": wait},
            )
        for attempt in range(2):
            request = self.client.build_request(
                method, self.base_url + path, params=params, content=content, headers=headers,
                timeout=self.timeout,
            )  # fmt: skip
            if signed:
                if self.signing_key is None or self.device_id is None:
                    raise RuntimeError("signed request before enrollment")
                raw_path = request.url.raw_path.decode("ascii")
                path_only, _, query = raw_path.partition("?")
                now = self.clock() + self.clock_offset
                request.headers.update(
                    sign_request(
                        self.signing_key, self.device_id, method, path_only, query, content, now, new_nonce()
                    )
                )
            response = await self._send(request)
            self.bytes_sent += len(content)
            if response.is_success:
                return response
            error = _refusal(response)
            if response.status_code == 429:
                self.gate.hold(self.clock(), retry_after(response, self.clock()) or 1)
            if attempt == 0 and isinstance(error, GridsyncError) and error.code == "request.expired":
                server_now = _server_date(response)
                if server_now is not None:
                    self.clock_offset = server_now - self.clock()
                    continue
            raise error
        raise AssertionError("unreachable")

    # --- the API ---------------------------------------------------------------------------------

    async def enroll(self, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.request(
            "POST",
            "/v1/enroll",
            content=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
            signed=False,
        )
        return _json(response)

    async def push_segment(self, blob: bytes) -> dict[str, Any]:
        response = await self.request(
            "POST", "/v1/segments", content=blob, headers={"content-type": "application/octet-stream"}
        )
        return _json(response)

    async def changes(self, cursor: int, limit: int) -> bytes:
        response = await self.request("GET", "/v1/changes", params={"cursor": cursor, "limit": limit})
        return response.content

    async def photo_status(self, sha256: str) -> dict[str, Any]:
        return _json(await self.request("GET", f"/v1/photos/{sha256}/status"))

    async def put_photo(self, sha256: str, offset: int, size: int, chunk: bytes) -> dict[str, Any]:
        response = await self.request(
            "PUT",
            f"/v1/photos/{sha256}",
            params={"offset": offset, "size": size},
            content=chunk,
            headers={"content-type": "application/octet-stream"},
        )
        return _json(response)

    async def get_photo(self, sha256: str) -> bytes:
        return (await self.request("GET", f"/v1/photos/{sha256}")).content

    async def set_public_text(self, case_id: str, text: str) -> dict[str, Any]:
        """`PUT /v1/cases/{case_id}/public-text`: the answer `{"case_id", "case_no", "text", "edited_at"}`."""
        response = await self.request(
            "PUT",
            f"/v1/cases/{case_id}/public-text",
            content=json.dumps({"text": text}, ensure_ascii=False).encode(),
            headers={"content-type": "application/json"},
        )
        return _json(response)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise NetworkError("the server answered with something that is not JSON") from exc
    if not isinstance(data, dict):
        raise NetworkError("the server answered with unexpected JSON")
    return data
