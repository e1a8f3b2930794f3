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
from collections.abc import Callable
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


class ServerApi:
    """One server, one device. `clock_offset` (seconds) is added to the phone's clock when signing."""

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
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self.device_id = device_id
        self.signing_key = signing_key
        self.clock_offset = clock_offset
        self.client = httpx.AsyncClient(base_url=self.base_url, transport=transport, timeout=timeout)
        self.bytes_sent = 0
        self.retries = retries
        self.retry_delay = retry_delay
        self.gate = gate or RetryGate()

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _send(self, request: httpx.Request) -> httpx.Response:
        """Send. A connection that could not be made is retried a few times with exponential backoff
        and jitter: nothing left the phone, so nothing is sent twice. A request cut after it left is
        not retried here; the next round asks the server where things stand (photo status, segment
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
            request = self.client.build_request(method, path, params=params, content=content, headers=headers)
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


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise NetworkError("the server answered with something that is not JSON") from exc
    if not isinstance(data, dict):
        raise NetworkError("the server answered with unexpected JSON")
    return data
