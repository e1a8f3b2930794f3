"""POST /v1/segments (push the change log) and GET /v1/changes (pull, sealed to the device)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from shared.errors import GridsyncError
from sync_server.api.contract import documented
from sync_server.api.schemas import Receipt
from sync_server.api.signing import (
    Signed,
    no_body,
    push_per_address,
    push_per_device,
    segment_body,
    services_of,
    signed,
)
from sync_server.changes import collect_changes, sealed_changes
from sync_server.store.base import MAX_SQL_INTEGER

router = APIRouter(tags=["sync"])

SEGMENT_REFUSALS = (
    "segment.malformed", "segment.bad_version", "segment.too_large", "segment.too_many_ops",
    "segment.bad_signature", "segment.unknown_key", "segment.decrypt_failed", "segment.decompress_failed",
    "segment.bomb", "segment.count_mismatch", "segment.wrong_device", "segment.conflict",
    "segment.chain_broken", "segment.fork", "op.malformed", "op.unknown_kind", "op.bad_field", "op.sequence",
)  # fmt: skip
#: A push is rate limited per client address (before its body is read) and per device (once signed).
signed_push = signed(segment_body, per_address=push_per_address, per_device=push_per_device)
#: A page of changes holds at most this many entries; `changes_limit_max` in the config may lower it.
MAX_CHANGES_LIMIT = 1000


@router.post(
    "/v1/segments",
    **documented(*SEGMENT_REFUSALS, signed=True, answer=Receipt,
                 binary_body="One sealed segment (shared/envelope.py), at most `max_segment_bytes`."),
)  # fmt: skip
async def push_segment(request: Request, req: Annotated[Signed, Depends(signed_push)]) -> dict[str, Any]:
    services = services_of(request)
    queue = services.config.apply_mode == "queue"

    def work() -> dict[str, Any]:
        return services.reconciler.apply_segment(
            req.body, req.now, services.clock(), signed_by=req.device.device_id, queue=queue
        )

    return await run_in_threadpool(work)


@router.get("/v1/changes", response_class=Response, **documented(signed=True, binary_answer=True))
async def pull_changes(
    request: Request,
    req: Annotated[Signed, Depends(signed(no_body))],
    cursor: Annotated[int, Query(ge=0, le=MAX_SQL_INTEGER)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_CHANGES_LIMIT)] = 500,
) -> Response:
    services = services_of(request)
    if limit > services.config.changes_limit_max:
        raise GridsyncError("request.malformed", f"limit is at most {services.config.changes_limit_max}")

    def work() -> bytes:
        page = collect_changes(
            services.store, req.device.device_id, req.worker.actor(), cursor, limit, req.now,
            retention_s=services.config.segment_retention_s,
        )  # fmt: skip
        return sealed_changes(page, req.device, services.keys, req.now)

    return Response(await run_in_threadpool(work), media_type="application/octet-stream")
