"""POST /v1/enroll: a phone trades a one-time code for its device id (unsigned by design)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from shared.errors import GridsyncError
from sync_server.api.contract import documented
from sync_server.api.schemas import Enrollment
from sync_server.api.signing import client_address, enroll_per_address, rate_limit, read_body, services_of
from sync_server.enrollment import enroll_device

router = APIRouter(tags=["enrollment"])
MAX_ENROLL_BODY = 16 * 1024
PUBLIC_KEY = r"^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$"  # 32 bytes in canonical unpadded base64url
KEY_FIELDS = (("signing_key",), ("encryption_key",))  # where pydantic says a key failed


class EnrollRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=4, max_length=64)
    signing_key: str = Field(pattern=PUBLIC_KEY, description="Ed25519 public key: 32 bytes, base64url.")
    encryption_key: str = Field(pattern=PUBLIC_KEY, description="X25519 public key: 32 bytes, base64url.")
    device_name: str = Field(default="", max_length=200)


@router.post(
    "/v1/enroll",
    **documented("request.too_large", "enroll.bad_code", "enroll.bad_key", answer=Enrollment,
                 json_body=EnrollRequest),
)  # fmt: skip
async def enroll(request: Request) -> Response:
    """The answer is made in a worker thread as bytes (`enroll_device`): returned as a dict, FastAPI
    would walk and encode the city's thousands of grids on the event loop for every phone."""
    services = services_of(request)
    rate_limit(request, enroll_per_address, client_address(request))  # guessing codes is slow work
    body = await read_body(request, MAX_ENROLL_BODY)
    try:
        form = EnrollRequest.model_validate_json(body)
    except ValidationError as exc:
        on_a_key = bool(exc.errors()) and tuple(exc.errors()[0].get("loc", ()))[:1] in KEY_FIELDS
        raise GridsyncError(
            "enroll.bad_key" if on_a_key else "request.malformed", _first_error(exc)
        ) from None
    now = services.clock()

    def work() -> bytes:
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

    return Response(await run_in_threadpool(work), media_type="application/json")


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error.get("loc", ()))
    return f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg", "invalid"))
