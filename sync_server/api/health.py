"""GET /health and GET /metrics (unsigned: for load balancers and Prometheus)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from sync_server import __version__
from sync_server.api.contract import documented
from sync_server.api.schemas import Health
from sync_server.api.signing import services_of
from sync_server.metrics import CONTENT_TYPE

router = APIRouter(tags=["operations"])


@router.get("/health", **documented(answer=Health))
async def health(request: Request) -> dict[str, Any]:
    return {"status": "ok", "store": services_of(request).store.kind, "version": __version__}


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    **documented(),
)
async def metrics(request: Request) -> PlainTextResponse:
    services = services_of(request)
    backlog = await run_in_threadpool(services.store.backlog_size)
    services.metrics.backlog_segments.set(backlog)
    return PlainTextResponse(services.metrics.render(), media_type=CONTENT_TYPE)
