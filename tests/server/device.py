"""`TestDevice`: a phone as the tests need one, built from shared/ only (keys, ops, envelopes,
request signing). It does not import the server: what it sends is what a real phone would send."""

from __future__ import annotations

import json
import uuid
from typing import Any

from shared import crypto
from shared.auth import new_nonce, sign_request
from shared.envelope import GENESIS_HASH, open_box, seal_segment, segment_hash

# Grid 441502001001001 and its east neighbour 441502001001002 of the demo city.
GRID_A = "441502001001001"
GRID_B = "441502001001002"
SPOT_A = {"lat": 22.7875, "lon": 115.362375, "accuracy_m": 5.0, "source": "gps"}
SPOT_B = {"lat": 22.7875, "lon": 115.363425, "accuracy_m": 5.0, "source": "gps"}


def hex32() -> str:
    return uuid.uuid4().hex


class TestDevice:
    __test__ = False

    def __init__(self, client: Any, clock: Any) -> None:
        self.client = client
        self.clock = clock
        self.signing = crypto.new_signing_key()
        self.encryption = crypto.new_encryption_key()
        self.device_id = ""
        self.worker_id = ""
        self.server: dict[str, Any] = {}
        self.next_seq = 1
        self.last_hash = GENESIS_HASH

    # --- enrollment -----------------------------------------------------------------------------
    def enroll_body(self, code: str) -> dict[str, str]:
        return {
            "code": code,
            "signing_key": crypto.b64e(crypto.public_raw(self.signing)),
            "encryption_key": crypto.b64e(crypto.public_raw(self.encryption)),
            "device_name": "Pixel 7",
        }

    def enroll(self, code: str) -> dict[str, Any]:
        response = self.client.post("/v1/enroll", json=self.enroll_body(code))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        self.device_id = body["device_id"]
        self.worker_id = body["worker"]["worker_id"]
        self.server = body["server"]
        return body

    # --- ops ------------------------------------------------------------------------------------
    def op(self, kind: str, case_id: str, payload: dict[str, Any], base_version: int = 0) -> dict[str, Any]:
        return {
            "op_id": hex32(),
            "device_id": self.device_id,
            "actor": self.worker_id,
            "seq": 0,  # set when sealed
            "case_id": case_id,
            "base_version": base_version,
            "captured_at": self.clock.now,
            "kind": kind,
            "payload": payload,
        }

    def create(self, case_id: str | None = None, *, category: str = "0101", spot: dict[str, Any] = SPOT_A,
               on_spot: bool = False, description: str = "井盖破损") -> dict[str, Any]:  # fmt: skip
        payload = {
            "category": category,
            "location": dict(spot),
            "description": description,
            "on_spot": on_spot,
        }
        return self.op("create", case_id or hex32(), payload)

    def edit(self, case_id: str, base_version: int, **fields: Any) -> dict[str, Any]:
        return self.op("edit", case_id, {"fields": fields}, base_version)

    def move(self, case_id: str, action: str, base_version: int = 1, **extra: Any) -> dict[str, Any]:
        return self.op("transition", case_id, {"action": action, **extra}, base_version)

    def photo(self, case_id: str, stage: str, sha256: str | None = None) -> dict[str, Any]:
        payload = {"photo_id": hex32(), "sha256": sha256 or hex32() * 2, "size": 1000, "stage": stage,
                   "key": crypto.b64e(bytes(32))}  # fmt: skip
        return self.op("photo", case_id, payload, 1)

    def note(self, case_id: str, text: str = "已到现场") -> dict[str, Any]:
        return self.op("note", case_id, {"note_id": hex32(), "text": text}, 1)

    # --- segments -------------------------------------------------------------------------------
    def seal(self, ops: list[dict[str, Any]], *, first_seq: int | None = None, advance: bool = True,
             payload: bytes | None = None) -> bytes:  # fmt: skip
        first = self.next_seq if first_seq is None else first_seq
        for i, op in enumerate(ops):
            op["seq"] = first + i
        body = payload if payload is not None else json.dumps(ops, ensure_ascii=False).encode()
        blob = seal_segment(
            device_id=self.device_id,
            first_seq=first,
            last_seq=first + len(ops) - 1,
            prev_hash=self.last_hash,
            op_count=len(ops),
            created_at=self.clock.now,
            payload=body,
            device_key=self.signing,
            server_public_raw=crypto.b64d(self.server["encryption_key"]),
        )
        if advance:
            self.next_seq = first + len(ops)
            self.last_hash = segment_hash(blob)
        return blob

    # --- requests -------------------------------------------------------------------------------
    def headers(self, method: str, path: str, query: str = "", body: bytes = b"", *, at: int | None = None,
                nonce: str | None = None) -> dict[str, str]:  # fmt: skip
        now = self.clock.now if at is None else at
        return sign_request(
            self.signing, self.device_id, method, path, query, body, now, nonce or new_nonce()
        )

    def push(self, blob: bytes, **kw: Any) -> Any:
        headers = self.headers("POST", "/v1/segments", "", blob, **kw)
        headers["Content-Type"] = "application/octet-stream"
        return self.client.post("/v1/segments", content=blob, headers=headers)

    def push_ops(self, ops: list[dict[str, Any]]) -> dict[str, Any]:
        response = self.push(self.seal(ops))
        assert response.status_code == 200, response.text
        receipt: dict[str, Any] = response.json()
        return receipt

    def get(self, path: str, query: str = "") -> Any:
        url = path + (f"?{query}" if query else "")
        return self.client.get(url, headers=self.headers("GET", path, query))

    def pull(self, cursor: int = 0, limit: int = 500) -> dict[str, Any]:
        response = self.get("/v1/changes", f"cursor={cursor}&limit={limit}")
        assert response.status_code == 200, response.text
        plain = open_box(
            response.content,
            recipient_private=self.encryption,
            signer_public_raw=crypto.b64d(self.server["signing_key"]),
            context=b"changes",
            max_plain_bytes=64 * 1024 * 1024,
        )
        page: dict[str, Any] = json.loads(plain)
        return page

    def pull_all(self) -> dict[str, Any]:
        """Every page from cursor 0: the cases by id (latest version) and all outcomes."""
        cursor, cases, outcomes = 0, {}, []
        while True:
            page = self.pull(cursor)
            cases.update({c["case_id"]: c for c in page["cases"]})
            outcomes += page["outcomes"]
            cursor = page["cursor"]
            if not page["more"]:
                return {"cases": cases, "outcomes": outcomes, "cursor": cursor}
