"""Service requests filed through Open311 (`POST requests`): API keys, and a request made a case.

A city hotline (12345) or a citizen app files a problem into the same case loop as a grid worker.
It holds an API key issued by the city's administrator (`gridsync-server admin api-key issue`);
the key is `<key id>.<secret>`, the store keeps only the secret's SHA-256, and each key has its own
rate limit (requests a minute, enforced by the route: `sync_server.api.open311_app`). A request becomes a case in the `reported` state, exactly as a
worker's report does: the same `create` op through the same rules (`shared.rules.apply_op`), its
grid derived from its location by the city's grid index (outside every grid: `case.no_grid`), a
case number, possible duplicates suggested. Its source is recorded: the reporter is
`open311.<key id>`, its op log row carries the key id as its device and the flag `open311`.

Only what the case loop needs is kept: service code, lat/long, description, address, and a
`media_url` (kept as a note on the case, never published). A caller's name, e-mail or phone number
are not stored: the public feed must never be able to show them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from shared.errors import GridsyncError
from shared.model import Actor, Case, Role
from shared.ops import MAX_ADDRESS, MAX_TEXT, validate_op
from sync_server.admin_audit import os_user
from sync_server.casework import Batch, apply_ops
from sync_server.city import City
from sync_server.public_text import clean_public_text
from sync_server.store.base import ApiKeyRecord, PublicTextEdit, Store

SOURCE_PREFIX = "open311."  # a case filed over Open311 has reporter `open311.<key id>`
DEFAULT_RATE_PER_MINUTE = 60
MAX_MEDIA_URL = 500
_KEY = re.compile(r"^([0-9a-f]{32})\.([A-Za-z0-9_-]{43})$")
_MEDIA_URL = re.compile(r"^https?://[^\s]+$")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedKey:
    record: ApiKeyRecord
    api_key: str  # shown once, to the administrator; never stored


def issue_key(store: Store, name: str, rate_per_minute: int, now: int, by: str | None = None) -> IssuedKey:
    """A new key for `name` (who holds it: "12345 hotline"). Recorded with who issued it and when."""
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise GridsyncError("request.malformed", "a key's name is 1 to 100 characters")
    if not 1 <= rate_per_minute <= 10_000:
        raise GridsyncError("request.malformed", "rate_per_minute is 1 to 10000")
    key_id, secret = uuid.uuid4().hex, secrets.token_urlsafe(32)
    record = ApiKeyRecord(key_id, _digest(secret), name, rate_per_minute, now, by or os_user())
    with store.transaction() as tx:
        tx.add_api_key(record)
    return IssuedKey(record, f"{key_id}.{secret}")


def revoke_key(store: Store, key_id: str, now: int, by: str | None = None) -> ApiKeyRecord:
    """Revoke a key at once (every process reads it from the store on each request)."""
    with store.transaction() as tx:
        if not tx.revoke_api_key(key_id, now, by or os_user()):
            raise GridsyncError("request.not_found", f"no key {key_id!r} that is not revoked already")
    revoked = store.api_key(key_id)
    assert revoked is not None
    return revoked


def authenticate(store: Store, api_key: str | None) -> ApiKeyRecord:
    """The key record for a presented key, or `request.forbidden` (missing, unknown, revoked)."""
    match = _KEY.fullmatch(api_key or "")
    record = None if match is None else store.api_key(match.group(1))
    if (
        match is None
        or record is None
        or not hmac.compare_digest(record.secret_hash, _digest(match.group(2)))
    ):
        raise GridsyncError("request.forbidden", "a valid api_key is required to file a service request")
    if record.revoked_at is not None:
        raise GridsyncError("request.forbidden", "this api_key has been revoked")
    return record


def _coordinate(form: dict[str, str], name: str, lo: float, hi: float) -> float:
    text = form.get(name)
    if text is None:
        raise GridsyncError(
            "request.malformed", "lat and long are required: requests are placed by coordinates"
        )
    try:
        value = float(text)
    except ValueError:
        raise GridsyncError("request.malformed", f"{name} must be a number: {text!r}") from None
    if not lo <= value <= hi:
        raise GridsyncError("request.malformed", f"{name} is out of range: {text!r}")
    return value


def _create_op(key: ApiKeyRecord, form: dict[str, str], case_id: str, now: int) -> dict[str, Any]:
    lat = _coordinate(form, "lat", -90, 90)
    lon = _coordinate(form, "long", -180, 180)
    payload = {
        "category": form.get("service_code", ""),
        "description": form.get("description", "")[: MAX_TEXT + 1],
        "address": form.get("address_string", "")[: MAX_ADDRESS + 1],
        "location": {"lat": lat, "lon": lon, "accuracy_m": 0.0, "source": "manual"},
    }
    return {"op_id": uuid.uuid4().hex, "device_id": key.key_id, "actor": SOURCE_PREFIX + key.key_id, "seq": 1,
            "case_id": case_id, "base_version": 0, "captured_at": now, "kind": "create", "payload": payload}  # fmt: skip


def _media_op(create: dict[str, Any], url: str) -> dict[str, Any]:
    if len(url) > MAX_MEDIA_URL or not _MEDIA_URL.fullmatch(url):
        raise GridsyncError(
            "request.malformed", f"media_url must be an http(s) URL of at most {MAX_MEDIA_URL}"
        )
    note = {"note_id": uuid.uuid4().hex, "text": f"media_url: {url}"}
    return {**create, "op_id": uuid.uuid4().hex, "seq": 2, "base_version": 1, "kind": "note", "payload": note}


def file_request(store: Store, city: City, key: ApiKeyRecord, form: dict[str, str], now: int) -> Case:
    """Make the request in `form` (the spec's POST fields) a case; returns it as stored. Refusals:
    `request.malformed` (a field), `case.unknown_category`, `case.no_grid` (outside the city)."""
    if not form.get("service_code"):
        raise GridsyncError("request.malformed", "service_code is required")
    case_id = uuid.uuid4().hex
    raw = [_create_op(key, form, case_id, now)]
    if form.get("media_url"):
        raw.append(_media_op(raw[0], form["media_url"]))
    try:
        ops = [validate_op(op) for op in raw]
    except GridsyncError as bad:  # an op code would mean nothing to an Open311 client
        raise GridsyncError("request.malformed", bad.detail or bad.code) from None
    actor = Actor(SOURCE_PREFIX + key.key_id, Role.WORKER, all_grids=True)
    batch = Batch(key.key_id, actor, now, now, city.calendar.utc_offset_minutes, "open311")
    with store.transaction() as tx:
        applied = apply_ops(tx, ops, batch, city.rule_context(now))
        refused = next((o for o in applied.outcomes if o.code is not None), None)
        if refused is not None:  # nothing is kept: the transaction rolls back
            detail = (
                "the location is outside the city's grids"
                if refused.code == "case.no_grid"
                else refused.detail
            )
            raise GridsyncError(refused.code or "request.malformed", detail)
    case = store.case(case_id)
    assert case is not None
    return case


def set_public_text(store: Store, request_id: str, text: str, by: str, now: int) -> Case:
    """A supervisor's public text for a case (by case number or id): what the feed shows as its
    description from now on, whatever the case's state. Appended with the text it replaces, who and
    when (`Store.public_text_edits` is the audit)."""

    text = clean_public_text(text)  # the same rule as a supervisor's edit from her phone
    case = store.case_by_number(request_id) or (store.case(request_id) if len(request_id) == 32 else None)
    if case is None:
        raise GridsyncError("case.unknown", f"no case {request_id!r}")
    with store.transaction() as tx:
        before = tx.public_texts([case.case_id]).get(case.case_id)
        tx.add_public_text(PublicTextEdit(case.case_id, text, before, by, now))
    return case
