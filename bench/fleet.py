"""A fleet of simulated devices and the server data directory they are enrolled in.

Used by the bench and by the fault and hostile tests: it writes a night's work the way phones do —
ops with contiguous sequence numbers, sealed into hash-chained segments with the real
`shared.envelope.seal_segment` — without a phone's local database, so a million ops can be made in
seconds. Everything is deterministic from an index and a seed (keys included), so a generated spool
can be cached and a failing test replayed.

The server side is built with the server's own functions (`create_keys`, `save_config`,
`open_store`, the catalogue imports, the store's transaction), so the data directory is the one
`gridsync-server serve` and `ingest` open.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bench import lattice
from shared import crypto
from shared.envelope import GENESIS_HASH, seal_segment, segment_hash
from sync_server.city import import_calendar, import_categories, import_departments, import_grids
from sync_server.config import ServerConfig, save_config
from sync_server.keys import ServerKeys, create_keys
from sync_server.store import open_store
from sync_server.store.base import DeviceRecord, WorkerRecord

PASSPHRASE = "bench-passphrase"
NOW = 1_790_000_000  # 2026-09-21, a Monday: the server's clock in every generated night
_DEMO = "sync_server.data.demo_city"


def _derived(label: str, index: int, seed: int) -> bytes:
    return hashlib.sha256(f"gridsync-fleet/{label}/{seed}/{index}".encode()).digest()


@dataclass(frozen=True)
class Member:
    """One enrolled device and its worker."""

    index: int
    device_id: str
    worker_id: str
    role: str
    cells: tuple[lattice.Cell, ...]
    signing_raw: bytes = field(repr=False)
    encryption_raw: bytes = field(repr=False)
    all_grids: bool = False

    @property
    def signing(self) -> Ed25519PrivateKey:
        return crypto.signing_key_from_raw(self.signing_raw)

    @property
    def encryption(self) -> X25519PrivateKey:
        return crypto.encryption_key_from_raw(self.encryption_raw)

    def worker_record(self) -> WorkerRecord:
        grids = () if self.all_grids else tuple(c.code for c in self.cells)
        return WorkerRecord(self.worker_id, f"Worker {self.index}", self.role, None, grids, self.all_grids)

    def device_record(self, now: int) -> DeviceRecord:
        return DeviceRecord(
            self.device_id,
            self.worker_id,
            crypto.public_raw(self.signing),
            crypto.public_raw(self.encryption),
            f"bench phone {self.index}",
            now,
        )


def member(
    index: int, city: list[lattice.Cell], *, seed: int = 0, role: str = "worker", grids: int = 2
) -> Member:
    """Device `index` of the fleet: its keys and ids derive from (index, seed)."""
    first = (index * grids) % len(city)
    cells = tuple(city[(first + k) % len(city)] for k in range(grids))
    return Member(
        index=index,
        device_id=uuid.UUID(bytes=_derived("device", index, seed)[:16], version=4).hex,
        worker_id=f"{role[0]}{seed % 1000:03d}x{index:06d}",
        role=role,
        cells=cells,
        signing_raw=_derived("signing", index, seed),
        encryption_raw=_derived("encryption", index, seed),
        all_grids=role in ("supervisor", "admin"),
    )


def fleet(devices: int, *, seed: int = 0, grid_count: int = 4509) -> tuple[list[lattice.Cell], list[Member]]:
    city = lattice.cells(grid_count)
    return city, [member(i, city, seed=seed) for i in range(devices)]


def build_server(
    data_dir: Path, city: list[lattice.Cell], members: list[Member], *, now: int = NOW, **config: Any
) -> ServerKeys:
    """A ready data directory: keys, config, the demo city's catalogue over `city`'s grids, and every
    member enrolled. Returns the server's keys (the segments are sealed to them)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    keys = create_keys(data_dir, PASSPHRASE)
    save_config(ServerConfig(data_dir=data_dir, **config))
    store = open_store(data_dir)
    try:
        demo = resources.files(_DEMO)
        import_departments(store, demo.joinpath("departments.csv").read_text("utf-8"))
        import_categories(store, demo.joinpath("categories.csv").read_text("utf-8"))
        import_calendar(store, json.loads(demo.joinpath("calendar.json").read_text("utf-8")))
        import_grids(store, lattice.geojson(city))
        enroll(store, members, now)
    finally:
        store.close()
    return keys


def enroll(store: Any, members: list[Member], now: int = NOW) -> None:
    """Register workers and devices straight into the store (what `POST /v1/enroll` ends in)."""
    with store.transaction() as tx:
        for m in members:
            tx.save_worker(m.worker_record())
            tx.add_device(m.device_record(now))


def category_codes() -> list[str]:
    text = resources.files(_DEMO).joinpath("categories.csv").read_text("utf-8")
    return [line.split(",", 1)[0] for line in text.splitlines()[1:] if line.strip()]


# --- a device's night of work ----------------------------------------------------------------------

# The mix of a night: new reports, and photos, notes and corrections on the device's own reports.
MIX = (("create", 30), ("photo", 25), ("note", 25), ("edit", 20))


class Writer:
    """One device's change log: makes ops, seals them into chained segments.

    Mirrors what the phone does: sequence numbers are contiguous from 1, each segment's prev_hash is
    the previous segment's hash, and a segment once sealed is never re-sealed.
    """

    def __init__(
        self, m: Member, server_public: bytes, *, seed: int = 0, categories: list[str] | None = None
    ):
        self.member = m
        self.server_public = server_public
        self.rng = random.Random(hashlib.sha256(f"{seed}/{m.device_id}".encode()).digest())
        self.categories = categories or category_codes()
        self.next_seq = 1
        self.last_hash = GENESIS_HASH
        self.cases: list[str] = []
        self._kinds = [k for k, w in MIX for _ in range(w)]

    def branch(self) -> Writer:
        """An independent copy at the same point of the chain: what it writes never touches this one
        (for segments that must not be applied, or a second history of the same sequence numbers)."""
        other = copy.copy(self)
        other.rng = random.Random()
        other.rng.setstate(self.rng.getstate())
        other.cases = list(self.cases)
        return other

    def _hex(self) -> str:
        return self.rng.randbytes(16).hex()

    def op(
        self, kind: str, case_id: str, payload: dict[str, Any], *, base_version: int = 0
    ) -> dict[str, Any]:
        seq = self.next_seq
        self.next_seq += 1
        return {
            "op_id": self._hex(),
            "device_id": self.member.device_id,
            "actor": self.member.worker_id,
            "seq": seq,
            "case_id": case_id,
            "base_version": base_version,
            "captured_at": NOW - 3600 + seq,
            "kind": kind,
            "payload": payload,
        }

    def create(self) -> dict[str, Any]:
        rng = self.rng
        lat, lon = rng.choice(self.member.cells).point(rng.random(), rng.random())
        case_id = self._hex()
        self.cases.append(case_id)
        return self.op(
            "create",
            case_id,
            {
                "category": rng.choice(self.categories),
                "location": {
                    "lat": lat,
                    "lon": lon,
                    "accuracy_m": round(rng.uniform(3, 25), 1),
                    "source": "gps",
                },
                "description": "井盖松动，行人经过有响声 / loose manhole cover",
                "address": "凤山街道 香洲路 12 号",
            },
        )

    def next_op(self) -> dict[str, Any]:
        kind = self.rng.choice(self._kinds) if self.cases else "create"
        if kind == "create":
            return self.create()
        case_id = self.rng.choice(self.cases[-20:])
        if kind == "photo":
            payload = {"photo_id": self._hex(), "sha256": self.rng.randbytes(32).hex(),
                       "size": self.rng.randint(150_000, 900_000), "stage": "before",
                       "key": crypto.b64e(self.rng.randbytes(32))}  # fmt: skip
            return self.op("photo", case_id, payload)
        if kind == "note":
            return self.op("note", case_id, {"note_id": self._hex(), "text": "已联系市政所，明早处理。"})
        return self.op("edit", case_id, {"fields": {"description": f"补充说明 {self.next_seq}：井盖已破损"}})

    def ops(self, count: int, *, creates_only: bool = False) -> list[dict[str, Any]]:
        make = self.create if creates_only else self.next_op
        return [make() for _ in range(count)]

    def seal(self, ops: list[dict[str, Any]], *, created_at: int = NOW) -> bytes:
        """Seal ops (which must continue this device's sequence) and advance the chain."""
        payload = json.dumps(ops, ensure_ascii=False, separators=(",", ":")).encode()
        blob = seal_segment(
            device_id=self.member.device_id,
            first_seq=ops[0]["seq"],
            last_seq=ops[-1]["seq"],
            prev_hash=self.last_hash,
            op_count=len(ops),
            created_at=created_at,
            payload=payload,
            device_key=self.member.signing,
            server_public_raw=self.server_public,
        )
        self.last_hash = segment_hash(blob)
        return blob

    def segments(self, ops_total: int, per_segment: int, *, creates_only: bool = False) -> list[bytes]:
        out = []
        while ops_total > 0:
            n = min(per_segment, ops_total)
            out.append(self.seal(self.ops(n, creates_only=creates_only)))
            ops_total -= n
        return out
