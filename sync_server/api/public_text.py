"""A supervisor edits a case's public text from her phone (issue 15 item 7): parse, call the service
(`sync_server.public_text`), serialise."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from shared.errors import GridsyncError
from shared.ops import MAX_PUBLIC_TEXT
from sync_server.api.contract import documented
from sync_server.api.schemas import HEX32
from sync_server.api.signing import Signed, services_of, signed, small_json
from sync_server.public_text import edit_public_text

router = APIRouter(tags=["review"])
Hex32 = Annotated[str, Path(pattern=HEX32, description="32 lower-case hex digits.")]


class PublicTextBody(BaseModel):
    """What Open311 publishes as the case's description from now on, whatever its state."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        min_length=1,
        max_length=MAX_PUBLIC_TEXT,
        description="Plain text: valid Unicode, no NUL, not blank; surrounding blanks are dropped.",
    )


class PublicTextAnswer(BaseModel):
    model_config = ConfigDict(extra="allow")

    case_id: str = Field(pattern=HEX32)
    case_no: str | None
    text: str
    edited_at: int = Field(description="epoch seconds, the server's clock")


@router.put(
    "/v1/cases/{case_id}/public-text",
    **documented("case.unknown", "case.not_allowed", signed=True, answer=PublicTextAnswer,
                 json_body=PublicTextBody),
)  # fmt: skip
async def set_public_text(
    request: Request, case_id: Hex32, req: Annotated[Signed, Depends(signed(small_json))]
) -> dict[str, Any]:
    """Set the case's public text (a supervisor who may see the case). `case.unknown` for a case
    the device's person may not see, as for one that does not exist; `case.not_allowed` for someone
    who sees it but is no supervisor. Every edit is kept with who, from which device, and when."""
    try:
        parsed = json.loads(req.body)
    except ValueError:  # not JSON, or not UTF-8
        parsed = None
    if not isinstance(parsed, dict) or set(parsed) != {"text"}:
        raise GridsyncError("request.malformed", 'body must be {"text": "<public text>"}')
    store = services_of(request).store
    done = await run_in_threadpool(
        edit_public_text, store, req.worker.actor(), req.device.device_id, case_id, parsed["text"], req.now
    )
    return {"case_id": done.case_id, "case_no": done.case_no, "text": done.text, "edited_at": done.edited_at}
