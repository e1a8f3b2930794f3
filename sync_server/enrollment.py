"""Workers, one-time enrollment codes and devices (the security model's first step).

A code is shown once (text and QR) and stored only as a hash; it works once, before it expires.
Enrolling registers the phone's own public keys and answers with everything the phone must pin
or cache: the server's keys, the worker record and the city's catalogue (as JSON bytes, the city
spliced in from its once-made encoding: `City.catalogue_json`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from urllib.parse import quote

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from shared import crypto
from shared.errors import GridsyncError
from shared.ledger import DevicePosition
from shared.model import Role
from sync_server.city import City
from sync_server.config import ServerConfig
from sync_server.json_answer import answer_json
from sync_server.keys import PublicKeys
from sync_server.store.base import DeviceRecord, EnrollmentCode, Store, WorkerRecord

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I, O, 0, 1: read aloud over a phone line
WORKER_ID = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
GRID_CODE = re.compile(r"[0-9]{15}")
DEPARTMENT = re.compile(r"[A-Za-z0-9_.-]{1,32}")
MAX_DEVICE_NAME = 100


def new_code() -> str:
    letters = "".join(secrets.choice(CODE_ALPHABET) for _ in range(12))
    return "-".join(letters[i : i + 4] for i in range(0, 12, 4))


def code_hash(code: str) -> str:
    normalised = code.replace("-", "").replace(" ", "").upper()
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def enroll_link(server_url: str, code: str, keys: PublicKeys) -> str:
    return f"gridsync://enroll?server={quote(server_url, safe='')}&code={code}&fp={keys.signing_key_id}"


def add_worker(
    store: Store,
    worker_id: str,
    *,
    name: str,
    role: str,
    grids: list[str],
    department: str | None = None,
    all_grids: bool = False,
) -> WorkerRecord:
    """Create or update a worker. Refusals are ValueError with a message for the operator."""
    if not WORKER_ID.fullmatch(worker_id):
        raise ValueError("worker id must match [a-z0-9][a-z0-9_.-]{0,63}")
    if role not in {r.value for r in Role}:
        raise ValueError(f"role must be one of {[r.value for r in Role]}")
    bad = [g for g in grids if not GRID_CODE.fullmatch(g)]
    if bad:
        raise ValueError(f"grid codes are 15 digits: {bad}")
    if department is not None and not DEPARTMENT.fullmatch(department):
        raise ValueError("department code must be 1-32 letters, digits, '_', '.' or '-'")
    if not name.strip():
        raise ValueError("a worker needs a name")
    worker = WorkerRecord(worker_id, name.strip(), role, department, tuple(grids), all_grids)
    with store.transaction() as tx:
        tx.save_worker(worker)
    return worker


def create_code(store: Store, worker_id: str, now: int, ttl_s: int) -> str:
    if store.worker(worker_id) is None:
        raise ValueError(f"no worker {worker_id!r}; add the worker first")
    code = new_code()
    with store.transaction() as tx:
        tx.add_enrollment_code(EnrollmentCode(code_hash(code), worker_id, now + ttl_s))
    return code


def _public_key(text: str, kind: type[Ed25519PublicKey] | type[X25519PublicKey]) -> bytes:
    try:
        raw = crypto.b64d(text)
        kind.from_public_bytes(raw)
    except (GridsyncError, ValueError) as exc:
        raise GridsyncError("enroll.bad_key", "keys are 32 raw bytes, url-safe base64") from exc
    return raw


def enroll_device(
    store: Store,
    config: ServerConfig,
    keys: PublicKeys,
    city: City,
    *,
    code: str,
    signing_key: str,
    encryption_key: str,
    device_name: str,
    now: int,
) -> bytes:
    """Register a device for the code's worker; the code is spent in the same transaction. Answers
    with the JSON object of `device_id`, `worker`, `server`, `catalogue` and `apply_mode`, byte for
    byte what FastAPI makes of that dict, but encoding only what is this phone's own."""
    signing_raw = _public_key(signing_key, Ed25519PublicKey)
    encryption_raw = _public_key(encryption_key, X25519PublicKey)
    name = device_name.strip()[:MAX_DEVICE_NAME] or "device"
    device_id = uuid.uuid4().hex
    with store.transaction() as tx:
        worker_id = tx.use_enrollment_code(code_hash(code), now)
        if worker_id is None:
            raise GridsyncError("enroll.bad_code")
        start = DevicePosition(0, bytes(32))
        tx.add_device(
            DeviceRecord(device_id, worker_id, signing_raw, encryption_raw, name, now, None, start.last_seq,
                         start.last_hash)
        )  # fmt: skip
    worker = store.worker(worker_id)
    assert worker is not None
    head = {"device_id": device_id, "worker": worker.to_dict(), "server": keys.to_dict()}
    tail = {"apply_mode": config.apply_mode}
    return b"".join(
        (answer_json(head)[:-1], b',"catalogue":', city.catalogue_json(), b",", answer_json(tail)[1:])
    )  # the city is an MB: joined as bytes, never re-encoded or copied as text


def revoke_device(store: Store, device_id: str, now: int) -> bool:
    with store.transaction() as tx:
        return tx.revoke_device(device_id, now)
