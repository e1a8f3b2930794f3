"""Enrolling this phone: make keys, register them with a one-time code, pin the server's keys.

The server's answer is checked before anything is kept: its signing key must match the id it states
and, when the worker scanned a link, the fingerprint in that link (`server.key_mismatch`). Keys go
to the SecretStore first, then identity and catalogue in one transaction — a phone killed halfway is
simply not enrolled, and enrolling again makes fresh keys.
"""

from __future__ import annotations

from typing import Any

from mobile.core.identity import DeviceKeys, Identity, ServerKeys
from mobile.core.secrets import SecretStore
from mobile.core.server_api import ServerApi
from mobile.core.store import Store
from shared import crypto
from shared.catalogue import category_from_dict, department_from_dict, grids_from_geojson
from shared.enrollment import normalise_code
from shared.envelope import GENESIS_HASH
from shared.errors import GridsyncError


def _server_keys(server: Any, fingerprint: str | None) -> ServerKeys:
    try:
        signing = crypto.b64d(server["signing_key"])
        encryption = crypto.b64d(server["encryption_key"])
        signing_id = str(server["signing_key_id"])
        encryption_id = str(server.get("encryption_key_id") or crypto.key_id(encryption).hex())
    except (KeyError, TypeError) as exc:
        raise GridsyncError("request.malformed", "the enrollment answer has no server keys") from exc
    if len(signing) != 32 or len(encryption) != 32:
        raise GridsyncError("request.malformed", "server keys must be 32 bytes")
    if crypto.key_id(signing).hex() != signing_id or crypto.key_id(encryption).hex() != encryption_id:
        raise GridsyncError("server.key_mismatch", "the server's keys do not match their ids")
    if fingerprint is not None and fingerprint.lower() != signing_id:
        raise GridsyncError("server.key_mismatch", "the server's key is not the one in the enrollment link")
    return ServerKeys(signing, encryption, signing_id)


def _identity(answer: dict[str, Any], server_url: str) -> Identity:
    try:
        worker = answer["worker"]
        return Identity(
            device_id=str(answer["device_id"]),
            worker_id=str(worker["worker_id"]),
            name=str(worker.get("name") or worker["worker_id"]),
            role=str(worker["role"]),
            grids=tuple(str(g) for g in worker.get("grids") or ()),
            department=worker.get("department"),
            server_url=server_url.rstrip("/"),
            all_grids=bool(worker.get("all_grids", False)),
        )
    except (KeyError, TypeError) as exc:
        raise GridsyncError("request.malformed", "the enrollment answer has no worker") from exc


async def enroll_device(
    api: ServerApi,
    store: Store,
    secrets: SecretStore,
    code: str,
    fingerprint: str | None,
    device_name: str,
    now: int,
) -> Identity:
    keys = DeviceKeys.generate()
    body = {
        "code": normalise_code(code),
        "signing_key": crypto.b64e(crypto.public_raw(keys.signing)),
        "encryption_key": crypto.b64e(crypto.public_raw(keys.encryption)),
        "device_name": device_name[:64] or "phone",
    }
    answer = await api.enroll(body)
    server_keys = _server_keys(answer.get("server"), fingerprint)
    identity = _identity(answer, api.base_url)
    catalogue = answer.get("catalogue") or {}
    categories = [category_from_dict(c) for c in catalogue.get("categories") or []]
    departments = [department_from_dict(d) for d in catalogue.get("departments") or []]
    grids = grids_from_geojson(catalogue.get("grids") or {"type": "FeatureCollection", "features": []})
    calendar = catalogue.get("calendar")
    keys.save(secrets)
    with store.transaction() as conn:
        store.save_identity(
            conn,
            identity,
            server_keys,
            apply_mode=str(answer.get("apply_mode", "now")),
            now=now,
            genesis=GENESIS_HASH,
        )
        store.save_catalogue(
            conn, categories, departments, grids, calendar if isinstance(calendar, dict) else None
        )
    return identity
