"""GET /v1/people: who is who in the city, so a phone shows people by name (张伟), not login id."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from sync_server.api.contract import documented
from sync_server.api.signing import Signed, no_body, services_of, signed

router = APIRouter(tags=["enrollment"])


class Person(BaseModel):
    worker_id: str
    name: str
    role: str


class PeopleList(BaseModel):
    people: list[Person]


@router.get("/v1/people", **documented(signed=True, answer=PeopleList))
async def people(request: Request, req: Annotated[Signed, Depends(signed(no_body))]) -> dict[str, Any]:
    """Every worker's id, name and role (names only: grids, departments and devices stay private)."""
    workers = await run_in_threadpool(services_of(request).store.workers)
    return {"people": [{"worker_id": w.worker_id, "name": w.name, "role": w.role} for w in workers]}
