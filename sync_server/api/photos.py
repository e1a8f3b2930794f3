"""Resumable, content-addressed photo uploads and permission-checked downloads."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from shared.errors import GridsyncError
from sync_server.api.contract import documented
from sync_server.api.schemas import HEX64, PhotoStatus
from sync_server.api.signing import Signed, no_body, photo_chunk, services_of, signed
from sync_server.store.base import MAX_SQL_INTEGER

router = APIRouter(tags=["photos"])
Sha256 = Annotated[str, Path(pattern=HEX64, description="The sha256 (hex) of the sealed blob.")]


@router.get("/v1/photos/{sha256}/status", **documented("photo.foreign", signed=True, answer=PhotoStatus))
async def photo_status(
    request: Request, sha256: Sha256, req: Annotated[Signed, Depends(signed(no_body))]
) -> dict[str, Any]:
    return await run_in_threadpool(services_of(request).photos.status, sha256, req.device.device_id)


@router.put(
    "/v1/photos/{sha256}",
    **documented("photo.too_large", "photo.bad_offset", "photo.hash_mismatch", "photo.foreign",
                 "server.storage_full", "server.unavailable", signed=True, answer=PhotoStatus,
                 binary_body="The next chunk of the sealed blob, from `offset`; at most `max_photo_chunk` "
                 "bytes (1 MiB by default)."),
)  # fmt: skip
async def put_photo_chunk(
    request: Request,
    sha256: Sha256,
    req: Annotated[Signed, Depends(signed(photo_chunk))],
    offset: Annotated[int, Query(ge=0, le=MAX_SQL_INTEGER)],
    size: Annotated[int, Query(ge=1, le=MAX_SQL_INTEGER)],
) -> dict[str, Any]:
    if not req.body:
        raise GridsyncError("request.malformed", "a chunk holds at least one byte")
    services = services_of(request)
    try:
        status = await run_in_threadpool(
            services.photos.put_chunk, sha256, offset, size, req.body, req.device.device_id
        )
    except GridsyncError as exc:
        services.metrics.photo_uploads.inc(outcome=exc.code)
        raise
    services.metrics.photo_uploads.inc(outcome="complete" if status["complete"] else "partial")
    services.metrics.photos_bytes.inc(len(req.body))
    return status


@router.get(
    "/v1/photos/{sha256}",
    response_class=Response,
    **documented("photo.unknown", signed=True, binary_answer=True),
)
async def get_photo(
    request: Request, sha256: Sha256, req: Annotated[Signed, Depends(signed(no_body))]
) -> Response:
    shelf = services_of(request).photos
    blob = await run_in_threadpool(shelf.read, sha256, req.worker.actor())
    return Response(blob, media_type="application/octet-stream")
