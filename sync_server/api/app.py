"""The FastAPI application: routers, the error mapping, the request log.

`create_app(config, passphrase=…)` builds an app over an opened data directory. `app_from_env()` is
the factory uvicorn calls in each worker process (`serve --workers N`): it reads the data directory
and passphrase from the environment.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.routing import Match

from shared.errors import GridsyncError
from sync_server import __version__
from sync_server.api import (
    conflicts,
    contract,
    docs,
    enroll,
    health,
    people,
    photos,
    public_text,
    segments,
    serving,
)
from sync_server.api.deadline import BodyDeadline
from sync_server.api.open311 import georeport_error
from sync_server.api.open311_app import mount_open311
from sync_server.api.ratelimit import MemoryBuckets, Rules
from sync_server.api.signing import BodyBudget
from sync_server.api.telemetry import RequestLog
from sync_server.config import DATA_DIR_ENV, PASSPHRASE_ENV, ServerConfig, load_config
from sync_server.services import Clock, Services, open_services
from sync_server.sweeps import sweep_forever

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def error_response(error: GridsyncError) -> JSONResponse:
    retry_after = (error.context or {}).get("retry_after")
    headers = None if retry_after is None else {"Retry-After": str(retry_after)}
    return JSONResponse({"error": error.to_json()}, status_code=error.status, headers=headers)


async def _gridsync_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GridsyncError)
    if exc.code in contract.AUTH_CODES:
        request.app.state.services.metrics.auth_refusals.inc(code=exc.code)
    return error_response(exc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return error_response(GridsyncError("request.malformed", f"{where}: {first.get('msg', 'invalid')}"))


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals in the catalogue's form. Its headers are kept: a 405 says `Allow`."""
    assert isinstance(exc, HTTPException)
    codes = {
        404: "request.not_found",
        405: "request.method_not_allowed",
        413: "request.too_large",
        401: "request.unsigned",
        403: "request.forbidden",
    }
    error = GridsyncError(codes.get(exc.status_code, "request.malformed"), str(exc.detail))
    path = request.url.path
    # Open311 clients read GeoReport errors (sync_server/api/open311.py), in the path's format
    response = (
        georeport_error(error, path.rsplit(".", 1)[-1])
        if path.startswith("/open311/")
        else error_response(error)
    )
    response.headers.update(exc.headers or {})
    if exc.status_code == 405:  # Starlette names the first matching route's methods; a path may have more
        response.headers["Allow"] = ", ".join(_methods_at(request))
    return response


def _methods_at(request: Request) -> list[str]:
    """Every method some route takes at this path (the routes themselves answer, prefixes included)."""
    routes = request.app.router.routes
    return [
        method
        for method in HTTP_METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


def build_app(services: Services) -> FastAPI:
    """The app over already-opened services (tests use this to share a store with the app)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        interval = services.config.sweep_interval_s
        # Store work runs in anyio's worker threads, each with its own SQLite connection and page
        # cache: bounding the threads bounds the server's memory (docs/server.md, "Operating limits").
        anyio.to_thread.current_default_thread_limiter().total_tokens = services.config.api_threads
        try:
            async with anyio.create_task_group() as background:
                if interval > 0:
                    background.start_soon(sweep_forever, services, interval)
                yield
                background.cancel_scope.cancel()
        finally:
            services.metrics.process_ended()
            services.close()

    # /docs is served from local files (docs.install): FastAPI's own page loads Swagger UI from a CDN
    app = FastAPI(
        title="gridsync sync server", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    docs.install(app)
    app.state.services = services
    app.state.limiter = MemoryBuckets()
    app.state.rate_rules = Rules.of(services.config)
    app.state.body_budget = BodyBudget(
        services.config.unverified_small_bodies_kib * 1024,
        services.config.unverified_large_bodies_kib * 1024,
        services.config.unverified_bodies_per_device,
    )
    serving.configure(services.config)
    app.add_exception_handler(GridsyncError, _gridsync_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    contract.install(app, services.config)
    for module in (enroll, people, segments, photos, conflicts, public_text, health):
        app.include_router(module.router)
    mount_open311(app, services)
    config = services.config
    app.add_middleware(BodyDeadline, idle_s=config.body_idle_timeout_s, total_s=config.body_timeout_s)
    app.add_middleware(RequestLog, metrics=services.metrics)
    return app


def create_app(config: ServerConfig, *, passphrase: str, clock: Clock | None = None) -> FastAPI:
    """Raises `keys.KeyFileError` for a wrong passphrase (before anything listens)."""
    return build_app(open_services(config, passphrase, clock, cache_kib=config.sqlite_cache_kib))


def app_from_env() -> FastAPI:
    data_dir = os.environ.get(DATA_DIR_ENV)
    if not data_dir:
        raise RuntimeError(f"{DATA_DIR_ENV} is not set")
    from pathlib import Path

    return create_app(load_config(Path(data_dir)), passphrase=os.environ.get(PASSPHRASE_ENV, ""))
