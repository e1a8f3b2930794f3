"""POST /v1/enroll: a phone trades a one-time code for its device id (unsigned by design)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from shared.errors import GridsyncError
from sync_server.api.signing import read_body, services_of
from sync_server.enrollment import enroll_device

router = APIRouter(tags=["enrollment"])
MAX_ENROLL_BODY = 16 * 1024


class EnrollRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=4, max_length=64)
    signing_key: str = Field(max_length=64)
    encryption_key: str = Field(max_length=64)
    device_name: str = Field(default="", max_length=200)


@router.post(
    "/v1/enroll",
    openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": EnrollRequest.model_json_schema()}}}
    },
)
async def enroll(request: Request) -> dict[str, Any]:
    services = services_of(request)
    body = await read_body(request, MAX_ENROLL_BODY)
    try:
        form = EnrollRequest.model_validate_json(body)
    except ValidationError as exc:
        raise GridsyncError("request.malformed", _first_error(exc)) from None
    now = services.clock()

    def work() -> dict[str, Any]:
        return enroll_device(
            services.store,
            services.config,
            services.keys.public,
            services.cities.get(),
            code=form.code,
            signing_key=form.signing_key,
            encryption_key=form.encryption_key,
            device_name=form.device_name,
            now=now,
        )

    return await run_in_threadpool(work)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error.get("loc", ()))
    return f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg", "invalid"))
