"""GET /health and GET /metrics (unsigned: for load balancers and Prometheus).

`/metrics` is open unless the config sets `metrics_token`: then only a scrape that sends
`Authorization: Bearer <token>` is answered; any other gets `request.forbidden` (403).
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from shared.errors import GridsyncError
from sync_server import __version__
from sync_server.api.contract import documented
from sync_server.api.schemas import Health
from sync_server.api.signing import services_of
from sync_server.metrics import CONTENT_TYPE, store_gauges

router = APIRouter(tags=["operations"])


@router.get("/health", **documented(answer=Health))
async def health(request: Request) -> dict[str, Any]:
    return {"status": "ok", "store": services_of(request).store.kind, "version": __version__}


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    **documented("request.forbidden", "request.not_found"),
)
async def metrics(request: Request) -> PlainTextResponse:
    services = services_of(request)
    if services.config.metrics_listen:
        raise GridsyncError("request.not_found", "metrics are served on their own address")
    token = services.config.metrics_token
    if token and not hmac.compare_digest(
        request.headers.get("authorization", "").encode(), f"Bearer {token}".encode()
    ):
        raise GridsyncError("request.forbidden", "/metrics needs its bearer token")
    gauges = await run_in_threadpool(store_gauges, services.store)
    text = await run_in_threadpool(services.metrics.render, gauges)
    return PlainTextResponse(text, media_type=CONTENT_TYPE)
