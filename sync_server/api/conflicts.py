"""Supervisor review of hard conflicts over HTTP."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.concurrency import run_in_threadpool

from shared.errors import GridsyncError
from sync_server.api.contract import documented
from sync_server.api.schemas import HEX32, CaseDocument, ConflictList
from sync_server.api.signing import Signed, no_body, services_of, signed, small_json
from sync_server.conflicts import list_conflicts, resolve_conflict

router = APIRouter(tags=["review"])
Hex32 = Annotated[str, Path(pattern=HEX32, description="32 lower-case hex digits.")]


class Choice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    choice: Literal["keep", "take"]


@router.get("/v1/conflicts", **documented("request.forbidden", signed=True, answer=ConflictList))
async def conflicts(request: Request, req: Annotated[Signed, Depends(signed(no_body))]) -> dict[str, Any]:
    store = services_of(request).store
    return {"conflicts": await run_in_threadpool(list_conflicts, store, req.worker.actor())}


@router.post(
    "/v1/conflicts/{case_id}/{conflict_id}",
    **documented("case.not_allowed", "case.unknown", "case.conflict_unknown",
                 signed=True, answer=CaseDocument, json_body=Choice),
)  # fmt: skip
async def resolve(
    request: Request, case_id: Hex32, conflict_id: Hex32, req: Annotated[Signed, Depends(signed(small_json))]
) -> dict[str, Any]:
    services = services_of(request)
    try:
        choice = Choice.model_validate_json(req.body).choice
    except ValidationError:
        raise GridsyncError("request.malformed", 'body must be {"choice": "keep" | "take"}') from None

    def work() -> dict[str, Any]:
        return resolve_conflict(
            services.store, services.cities.get(), req.worker.actor(), req.device.device_id, case_id, conflict_id,
            choice, req.now,
        )  # fmt: skip

    return await run_in_threadpool(work)
