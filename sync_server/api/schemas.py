"""The shapes of the API's JSON answers, for the OpenAPI document only.

The routes build their answers as plain dicts (`shared/` owns the wire names) and are never
re-validated against these models at run time: a receipt of 2,000 outcomes is not worth a second
pass. The models are held true by the tests instead — schemathesis checks every answer it provokes
against them, and a client generated from the document parses them (tests/server/test_openapi*.py).

Objects allow properties beyond those listed (`additionalProperties`), so a server that adds a field
does not break a client generated from an older document; a listed field keeps its name and type.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


HEX32 = r"^[0-9a-f]{32}$"
HEX64 = r"^[0-9a-f]{64}$"
ERROR_CODE = r"^[a-z0-9_]+\.[a-z0-9_]+$"


# --- refusals -----------------------------------------------------------------------------------
class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=ERROR_CODE, description="A stable code of the catalogue (shared/errors.py).")
    message: str = Field(description="What the person sees, in English.")
    message_zh: str = Field(description="What the person sees, in Simplified Chinese.")
    detail: str = Field(description="For logs and developers; may be empty.")
    context: dict[str, Any] | None = Field(
        default=None,
        description="What the phone needs to carry on, when the code has any: `segment.fork` says where "
        "to resume (`next_seq`, `prev_hash`), `request.rate_limited` when to retry (`retry_after`, seconds).",
    )


class ErrorBody(BaseModel):
    """Every refusal of the gridsync API (Open311 routes answer in GeoReport form instead)."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


# --- enrollment ---------------------------------------------------------------------------------
class Worker(_Open):
    worker_id: str
    name: str
    role: str = Field(description="worker, supervisor, handler or admin")
    grids: list[str]
    department: str | None
    all_grids: bool


class ServerKeys(_Open):
    signing_key: str = Field(description="The server's Ed25519 public key, base64url.")
    encryption_key: str = Field(description="The server's X25519 public key, base64url.")
    signing_key_id: str
    encryption_key_id: str


class CityCatalogue(_Open):
    categories: list[dict[str, Any]]
    departments: list[dict[str, Any]]
    grids: dict[str, Any] = Field(description="A GeoJSON FeatureCollection of the unit grids.")
    calendar: dict[str, Any]


class Enrollment(_Open):
    device_id: str = Field(pattern=HEX32)
    worker: Worker
    server: ServerKeys
    catalogue: CityCatalogue
    apply_mode: str = Field(description='"now" (reconciled on POST) or "queue" (spooled for the ingest)')


# --- segments -----------------------------------------------------------------------------------
class Outcome(_Open):
    op_id: str
    seq: int
    case_id: str
    outcome: str = Field(description="applied, soft_conflict, hard_conflict, rejected, duplicate, …")
    code: str | None = Field(description="The refusal's catalogue code when the op was rejected.")
    version: int | None
    detail: str


class Receipt(_Open):
    device_id: str
    first_seq: int
    last_seq: int
    status: str = Field(description="applied, resent, held or queued (docs/http-api.md)")
    outcomes: list[Outcome]
    incarnation: str = Field(
        pattern=HEX32, description="the store's incarnation: a new one after every restore from a backup"
    )
    device_seq: int = Field(ge=0, description="the last sequence number the server applied from this device")


# --- photos -------------------------------------------------------------------------------------
class PhotoStatus(_Open):
    received: int = Field(ge=0, description="Bytes the server holds.")
    size: int | None = Field(description="The size the upload declared; null before the first chunk.")
    complete: bool


# --- cases and review ---------------------------------------------------------------------------
class Location(_Open):
    lat: float
    lon: float
    accuracy_m: float
    source: str


class CasePhoto(_Open):
    photo_id: str
    sha256: str
    size: int
    stage: str
    key: str
    added_by: str
    captured_at: int


class CaseNote(_Open):
    note_id: str
    author: str
    text: str
    captured_at: int


class TimelineEntry(_Open):
    version: int
    op_id: str
    actor: str
    kind: str
    action: str
    status: str
    outcome: str
    at: int


class Conflict(_Open):
    conflict_id: str
    field: str
    kept: Any
    proposed: Any
    proposed_by: str
    base_version: int
    at_version: int
    resolved: bool
    resolution: str | None
    resolved_by: str | None


class CaseDocument(_Open):
    case_id: str
    case_no: str = Field(description="Empty until the case is filed.")
    category: str
    reporter: str
    status: str
    description: str
    location: Location | None
    grid_code: str
    address: str
    department: str | None
    handler: str | None
    deadline: int | None
    version: int
    captured_at: int
    reported_at: int
    closed_at: int | None
    on_spot: bool
    overdue: bool
    hard_conflict: bool
    possible_duplicates: list[str]
    duplicate_of: str | None
    extension_hours: float | None
    extensions: int
    reworks: int
    photos: list[CasePhoto]
    notes: list[CaseNote]
    timeline: list[TimelineEntry]
    conflicts: list[Conflict]
    field_versions: dict[str, list[Any]]


class OpenConflict(_Open):
    case_id: str
    case_no: str
    conflict: Conflict


class ConflictList(_Open):
    conflicts: list[OpenConflict]


# --- operations ---------------------------------------------------------------------------------
class Health(_Open):
    status: str
    store: str = Field(description="sqlite or postgres")
    version: str


# --- Open311 GeoReport v2 (JSON form; the XML form carries the same fields) ---------------------
class GeoReportError(BaseModel):
    """One item of an Open311 refusal: the HTTP status, and the gridsync code with its message."""

    code: int
    description: str = Field(description='"<gridsync code>: <message>", e.g. "request.not_found: No such …"')


class Open311Service(_Open):
    service_code: str
    service_name: str
    description: str | None
    metadata: bool
    type: str
    keywords: str | None
    group: str | None


class Open311ServiceDefinition(_Open):
    service_code: str
    attributes: list[dict[str, Any]]


class Open311Discovery(_Open):
    changeset: str
    contact: str
    key_service: str
    endpoints: list[dict[str, Any]]


class Open311Request(_Open):
    service_request_id: str
    status: str = Field(json_schema_extra={"enum": ["open", "closed"]})
    status_notes: str | None
    service_name: str | None
    service_code: str
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: str | None
    updated_datetime: str | None
    expected_datetime: str | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None


class Open311Token(_Open):
    service_request_id: str | None
    token: str


class Open311Filed(_Open):
    service_request_id: str | None
    token: str
    service_notice: str | None
    account_id: str | None
