"""POST /v1/segments (push the change log) and GET /v1/changes (pull, sealed to the device)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from shared.errors import GridsyncError
from sync_server.api.answers import packed_json, packed_response
from sync_server.api.contract import documented
from sync_server.api.schemas import Receipt
from sync_server.api.signing import (
    Received,
    Signed,
    no_body,
    push_per_address,
    push_per_device,
    received,
    segment_body,
    services_of,
)
from sync_server.change_bell import MAX_WAIT_S, ChangeBell
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
received_push = received(segment_body, per_address=push_per_address, per_device=push_per_device)
#: A page of changes holds at most this many entries; `changes_limit_max` in the config may lower it.
MAX_CHANGES_LIMIT = 1000


@router.post(
    "/v1/segments",
    **documented(*SEGMENT_REFUSALS, signed=True, answer=Receipt,
                 binary_body="One sealed segment (shared/envelope.py), at most `max_segment_bytes`."),
)  # fmt: skip
async def push_segment(request: Request, unverified: Annotated[Received, Depends(received_push)]) -> Response:
    services = services_of(request)
    queue = services.config.apply_mode == "queue"
    accept = request.headers.get("accept-encoding", "")

    def work() -> tuple[tuple[bytes, dict[str, str]], int]:
        req = unverified.verified()  # first: signature, nonce, the device's rate limit
        receipt = services.reconciler.apply_segment(
            req.body, req.now, services.clock(), signed_by=req.device.device_id, queue=queue, known=req.device
        )
        # The receipt is plain JSON values already: rendered here, in the worker thread, and
        # gzip-compressed when the phone accepts it (`answers`), not walked by FastAPI's
        # `jsonable_encoder` on the event loop.
        return packed_json(receipt, accept), services.store.change_seq()

    packed, counter = await run_in_threadpool(work)
    bell_of(request).ring(counter)  # phones waiting on the changes feed learn of it now
    return packed_response(packed)


def bell_of(request: Request) -> ChangeBell:
    """The app's bell (made on first use: one per app, on its event loop)."""
    bell: ChangeBell | None = getattr(request.app.state, "change_bell", None)
    if bell is None:
        services = services_of(request)
        bell = request.app.state.change_bell = ChangeBell(
            services.store.change_seq,
            poll_s=services.config.changes_poll_s,
            listen=services.store.change_notices(),
        )
    return bell


@router.get(
    "/v1/changes",
    response_class=Response,
    **documented(signed=True, binary_answer=True, no_content="Nothing new came within `wait` seconds."),
)
async def pull_changes(
    request: Request,
    unverified: Annotated[Received, Depends(received(no_body))],
    cursor: Annotated[int, Query(ge=0, le=MAX_SQL_INTEGER)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_CHANGES_LIMIT)] = 500,
    wait: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_WAIT_S,
            description="Seconds to wait for a change this device may see when there is none yet "
            "(a long-poll); 204 with no body when none came.",
        ),
    ] = 0,
) -> Response:
    services = services_of(request)

    def page_of(req: Signed, may_wait: bool) -> tuple[dict[str, Any], bytes | None]:
        """The page, sealed unless it is empty and the request waits for one."""
        page = collect_changes(
            services.store, req.device.device_id, req.worker.actor(), cursor, limit, req.now,
            retention_s=services.config.segment_retention_s,
        )  # fmt: skip
        if may_wait and not (page["cases"] or page["outcomes"] or page["more"]):
            return page, None
        return page, sealed_changes(page, req.device, services.keys, req.now)

    def first() -> tuple[Signed, dict[str, Any], bytes | None]:
        # One hop to a worker thread verifies the request, reads the page and seals it (each hop
        # costs the event loop a thread wake-up and a callback); the request is verified first.
        req = unverified.verified()
        if limit > services.config.changes_limit_max:
            raise GridsyncError("request.malformed", f"limit is at most {services.config.changes_limit_max}")
        return (req, *page_of(req, bool(wait)))

    req, page, sealed = await run_in_threadpool(first)
    if sealed is None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        # Changes this device may not see move the counter too: wait on, past them.
        while sealed is None:
            if not await bell_of(request).wait_past(page["cursor"], deadline - loop.time()):
                return Response(status_code=204)
            page, sealed = await run_in_threadpool(page_of, req, True)
    return Response(sealed, media_type="application/octet-stream")
