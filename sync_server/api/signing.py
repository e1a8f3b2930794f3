"""Request plumbing shared by the routes: bounded body reading and the signed-request check.

Bounded before authenticated. Everything the headers alone can prove is checked before a byte of
the body is read: the client address's rate limit, a Content-Length the route can take, the four
signing headers present, a timestamp inside the replay window, and a device that is enrolled and not
revoked. Only then is the body read, streaming, counted against the route's own limit (a client may
lie or send chunked) and against the process's `BodyBudget` (someone who knows a device id could
otherwise make the server hold many large bodies at once), and the signature checked
(`shared.auth.check_request`, which needs the body's hash); only a correctly signed request may
spend a nonce or be charged to its device's rate limit, and only then does the request log name the
device (`request.state.device`). A request that declares no body, to a route that takes none, has
its empty body at once: it checks the device and the signature in one hop to a worker thread
instead of two.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from shared.auth import HEADER_DEVICE, HEADER_NONCE, HEADER_TIMESTAMP, SIGNED_HEADERS, check_request
from shared.errors import GridsyncError
from sync_server.api import ratelimit
from sync_server.config import ServerConfig
from sync_server.services import Services
from sync_server.store.base import DeviceRecord, WorkerRecord


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def client_address(request: Request) -> str:
    """The client's address as uvicorn gives it (the proxy's X-Forwarded-For if it is trusted)."""
    return request.client.host if request.client is not None else "unknown"


def rate_limit(request: Request, rule: Callable[[ratelimit.Rules], ratelimit.Rule], key: str) -> None:
    """Take a token of `rule` for `key` or refuse with `request.rate_limited` (429, Retry-After). An
    exempt address (`rate_limit_exempt_ips`) is never limited."""
    state = request.app.state
    rules: ratelimit.Rules = state.rate_rules
    if key not in rules.exempt_addresses:
        ratelimit.check(state.limiter, rule(rules), key)


def check_length(request: Request, limit: int) -> None:
    """Refuse a declared Content-Length the route cannot take, before anything is read."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise GridsyncError("request.malformed", "Content-Length is not a number")
        if int(declared) > limit:
            raise GridsyncError("request.too_large", f"at most {limit} bytes")


async def read_body(request: Request, limit: int) -> bytes:
    check_length(request, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise GridsyncError("request.too_large", f"at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class BodyBudget:
    """Bodies of signed requests in progress, from before their signature is checked until the request
    is answered, counted by their declared length (or the route's limit if undeclared): at most
    `per_device` at once claiming the same device, and two pools for the whole process — bodies up to
    `large_from` bytes (what a phone sends: a segment of ~1 MiB, a 1 MiB photo chunk) share
    `small_bytes`, larger ones `large_bytes`, so near-limit bodies from someone who knows device ids
    cannot crowd out the phones. What does not fit is answered `request.rate_limited` with a short
    `Retry-After`. Used from the event loop only."""

    def __init__(
        self, small_bytes: int, large_bytes: int, per_device: int, large_from: int = 2 << 20
    ) -> None:
        self.room = {False: small_bytes, True: large_bytes}
        self.per_device = per_device
        self.large_from = large_from
        self.in_use = {False: 0, True: 0}
        self._claims: dict[str, int] = {}

    def admit(self, device_id: str, size: int) -> None:
        large = size > self.large_from
        if self.in_use[large] + size > self.room[large] or self._claims.get(device_id, 0) >= self.per_device:
            raise GridsyncError(
                "request.rate_limited", "too many bodies in progress", context={"retry_after": 1}
            )
        self.in_use[large] += size
        self._claims[device_id] = self._claims.get(device_id, 0) + 1

    def release(self, device_id: str, size: int) -> None:
        self.in_use[size > self.large_from] -= size
        left = self._claims.pop(device_id, 1) - 1
        if left:
            self._claims[device_id] = left


@dataclass(frozen=True)
class Signed:
    """A request proven to come from an enrolled, unrevoked device, fresh and not replayed."""

    device: DeviceRecord
    worker: WorkerRecord
    body: bytes
    now: int


def _path_and_query(request: Request) -> tuple[str, str]:
    raw = request.scope.get("raw_path") or request.scope["path"].encode("utf-8")
    path = raw.decode("latin-1").split("?", 1)[0]
    return path, request.scope.get("query_string", b"").decode("latin-1")


def _verify(services: Services, request: Request, body: bytes, known: DeviceRecord | None = None) -> Signed:
    """`known`: the device's record as `_enrolled` read it in this thread just before (nothing was
    awaited since), so it is not read again."""
    now = services.clock()
    store = services.store
    window = services.config.replay_window_s
    read: list[DeviceRecord] = []

    def public_key_for(device_id: str) -> bytes | None:
        device = known if known is not None and known.device_id == device_id else store.device(device_id)
        if device is None:
            return None
        if device.revoked_at is not None:
            raise GridsyncError("device.revoked")
        read.append(device)
        return device.signing_key

    path, query = _path_and_query(request)
    device_id = check_request(
        request.headers,
        request.method,
        path,
        query,
        body,
        public_key_for=public_key_for,
        now=now,
        window_s=window,
    )
    # one statement of its own, no transaction: a signed GET writes nothing else
    if not store.claim_nonce(device_id, request.headers[HEADER_NONCE], now, now - 2 * window):
        raise GridsyncError("request.replayed")
    device = read[0]  # the record whose key checked the signature, read in this thread just now
    worker = store.worker(device.worker_id)
    if worker is None:
        raise GridsyncError("device.unknown")
    return Signed(device, worker, body, now)


def _claimed_device(request: Request, now: int, window_s: int) -> str:
    """The device id the headers claim, once they are all there and the timestamp is fresh (the
    signature itself needs the body and is checked after it)."""
    for name in SIGNED_HEADERS:
        if not request.headers.get(name):
            raise GridsyncError("request.unsigned")
    stamp = request.headers[HEADER_TIMESTAMP]
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise GridsyncError("request.malformed", "device id or timestamp unreadable")
    if abs(now - int(stamp)) > window_s:
        raise GridsyncError("request.expired", f"{int(stamp) - now:+d} s from the server's clock")
    return request.headers[HEADER_DEVICE]


def _enrolled(services: Services, device_id: str) -> DeviceRecord:
    device = services.store.device(device_id)
    if device is None:
        raise GridsyncError("device.unknown")
    if device.revoked_at is not None:
        raise GridsyncError("device.revoked")
    return device


Limit = Callable[[ratelimit.Rules], ratelimit.Rule]


@dataclass(frozen=True)
class Received:
    """A signed request whose headers are checked and whose body is read, its signature not yet
    verified. `verified()` does the rest — for a route without a body the device check as well —
    and is blocking: it runs in a worker thread, as the first thing done with the request."""

    services: Services
    request: Request
    device_id: str
    body: bytes
    per_device: Limit | None
    enrolled_here: bool  # the device is checked by `verified` (a route without a body)

    def verified(self) -> Signed:
        """The checked request, its device named in the request log and charged its rate limit."""
        known = _enrolled(self.services, self.device_id) if self.enrolled_here else None
        checked = _verify(self.services, self.request, self.body, known)
        self.request.state.device = checked.device.device_id
        if self.per_device is not None:
            rate_limit(self.request, self.per_device, checked.device.device_id)
        return checked


@asynccontextmanager
async def _receiving(
    request: Request, max_bytes: int, per_address: Limit | None, per_device: Limit | None
) -> AsyncIterator[Received]:
    services = services_of(request)
    config = services.config
    if per_address is not None:
        rate_limit(request, per_address, client_address(request))
    check_length(request, max_bytes)
    device_id = _claimed_device(request, services.clock(), config.replay_window_s)
    if max_bytes == 0 and "transfer-encoding" not in request.headers:
        # No body, and none declared (a declared length was checked above): the empty body is there
        # at once, so the device and the signature are checked in one hop instead of two. A chunked
        # body takes the path below: the device first, then the body, refused at its first byte.
        body = await read_body(request, 0)
        yield Received(services, request, device_id, body, per_device, enrolled_here=True)
        return
    await run_in_threadpool(_enrolled, services, device_id)
    declared = request.headers.get("content-length")
    size = min(max_bytes, int(declared)) if declared is not None else max_bytes
    budget: BodyBudget = request.app.state.body_budget
    if size:
        budget.admit(device_id, size)
    try:
        body = await read_body(request, max_bytes)
        yield Received(services, request, device_id, body, per_device, enrolled_here=False)
    finally:
        if size:
            budget.release(device_id, size)


def signed(
    limit: Callable[[ServerConfig], int], *, per_address: Limit | None = None, per_device: Limit | None = None
) -> Callable[[Request], AsyncIterator[Signed]]:
    """A FastAPI dependency: the checked request, with a body of at most `limit(config)` bytes.
    `per_address` is charged before anything else, `per_device` once the signature is verified. A
    body holds its share of the `BodyBudget` until the request is answered (a verified body stays in
    memory while the route works on it)."""

    async def dependency(request: Request) -> AsyncIterator[Signed]:
        max_bytes = limit(services_of(request).config)
        async with _receiving(request, max_bytes, per_address, per_device) as received:
            yield await run_in_threadpool(received.verified)

    return dependency


def received(
    limit: Callable[[ServerConfig], int], *, per_address: Limit | None = None, per_device: Limit | None = None
) -> Callable[[Request], AsyncIterator[Received]]:
    """`signed`, but the route verifies the request itself: its first act, in the hop to a worker
    thread that does its work, must be `verified()` (a hop less per request: each is a thread
    wake-up and a loop callback)."""

    async def dependency(request: Request) -> AsyncIterator[Received]:
        max_bytes = limit(services_of(request).config)
        async with _receiving(request, max_bytes, per_address, per_device) as received:
            yield received

    return dependency


def no_body(config: ServerConfig) -> int:
    return 0


def segment_body(config: ServerConfig) -> int:
    return config.max_segment_bytes


def photo_chunk(config: ServerConfig) -> int:
    return config.max_photo_chunk


def small_json(config: ServerConfig) -> int:
    return 64 * 1024


def push_per_address(rules: ratelimit.Rules) -> ratelimit.Rule:
    return rules.push_per_address


def push_per_device(rules: ratelimit.Rules) -> ratelimit.Rule:
    return rules.push_per_device


def enroll_per_address(rules: ratelimit.Rules) -> ratelimit.Rule:
    return rules.enroll_per_address
