"""Request plumbing shared by the routes: bounded body reading and the signed-request check.

The body is refused as soon as it is known to be too large: first by its Content-Length, then by
counting while it streams in (a client may lie or send chunked). Only then is the signature
checked (`shared.auth.check_request`, which needs the body's hash), and only a correctly signed
request may spend a nonce.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from shared.auth import HEADER_NONCE, check_request
from shared.errors import GridsyncError
from sync_server.config import ServerConfig
from sync_server.services import Services
from sync_server.store.base import DeviceRecord, WorkerRecord


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise GridsyncError("request.malformed", "Content-Length is not a number")
        if int(declared) > limit:
            raise GridsyncError("request.too_large", f"at most {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise GridsyncError("request.too_large", f"at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


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


def _verify(services: Services, request: Request, body: bytes) -> Signed:
    now = services.clock()
    store = services.store
    window = services.config.replay_window_s

    def public_key_for(device_id: str) -> bytes | None:
        device = store.device(device_id)
        if device is None:
            return None
        if device.revoked_at is not None:
            raise GridsyncError("device.revoked")
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
    with store.transaction() as tx:
        fresh = tx.remember_nonce(device_id, request.headers[HEADER_NONCE], now, now - 2 * window)
    if not fresh:
        raise GridsyncError("request.replayed")
    device = store.device(device_id)
    worker = None if device is None else store.worker(device.worker_id)
    if device is None or worker is None:
        raise GridsyncError("device.unknown")
    return Signed(device, worker, body, now)


def signed(limit: Callable[[ServerConfig], int]) -> Callable[[Request], Awaitable[Signed]]:
    """A FastAPI dependency: the checked request, with a body of at most `limit(config)` bytes."""

    async def dependency(request: Request) -> Signed:
        services = services_of(request)
        body = await read_body(request, limit(services.config))
        return await run_in_threadpool(_verify, services, request, body)

    return dependency


def no_body(config: ServerConfig) -> int:
    return 0


def segment_body(config: ServerConfig) -> int:
    return config.max_segment_bytes


def photo_chunk(config: ServerConfig) -> int:
    return config.max_photo_chunk


def small_json(config: ServerConfig) -> int:
    return 64 * 1024
