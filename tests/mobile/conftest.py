"""Fixtures for the device core: a shared test clock, demo-city places, an offline-enrolled device,
and the real sync server (in-process over `httpx.ASGITransport`)."""

from __future__ import annotations

import asyncio
import io
import json
import random
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from PIL import Image

from mobile.core.device import Device
from mobile.core.identity import DeviceKeys, Identity, ServerKeys
from mobile.core.location import Fix
from mobile.core.secrets import MemorySecretStore, SecretStore
from mobile.core.store import Store
from shared import crypto
from shared.catalogue import categories_csv_parse, departments_csv_parse, grids_from_geojson
from shared.envelope import GENESIS_HASH
from shared.geo import polygon_centroid

T = TypeVar("T")
PASSPHRASE = "test passphrase"
START = 1_780_000_000  # a Thursday in 2026, 04:26 UTC (12:26 in Shanwei)
GRID_A = "441502001001001"
GRID_B = "441502001001002"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@dataclass
class Clock:
    now: int = START

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += seconds


def demo_file(name: str) -> str:
    return (resources.files("sync_server.data") / "demo_city" / name).read_text("utf-8")


def grid_centre(code: str) -> tuple[float, float]:
    cell = next(g for g in grids_from_geojson(json.loads(demo_file("grids.geojson"))) if g.code == code)
    lon, lat = polygon_centroid(cell.polygon)
    return lat, lon


def fix_in(code: str, at: int = START, jitter: float = 0.0, rng: random.Random | None = None) -> Fix:
    lat, lon = grid_centre(code)
    if rng is not None and jitter:
        lat += rng.uniform(-jitter, jitter)
        lon += rng.uniform(-jitter, jitter)
    return Fix(lat, lon, 8.0, at, "gps")


def jpeg(seed: int = 0, size: tuple[int, int] = (64, 48)) -> bytes:
    """A small, distinct JPEG (random noise compresses badly, so sizes are realistic)."""
    rng = random.Random(seed)
    image = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def enroll_offline(
    folder: Path,
    clock: Clock,
    *,
    role: str = "worker",
    grids: tuple[str, ...] = (GRID_A,),
    secrets: SecretStore | None = None,
) -> Device:
    """A device enrolled without a server: identity and demo catalogue written straight to its store."""
    store = Store(folder, clock())
    server_sign, server_enc = crypto.new_signing_key(), crypto.new_encryption_key()
    keys = ServerKeys(
        crypto.public_raw(server_sign),
        crypto.public_raw(server_enc),
        crypto.key_id(crypto.public_raw(server_sign)).hex(),
    )
    identity = Identity("0" * 31 + "1", "zhang.wei", "张伟", role, grids, None, "http://127.0.0.1:9", False)
    secrets = secrets if secrets is not None else MemorySecretStore()
    DeviceKeys.generate().save(secrets)
    with store.transaction() as conn:
        store.save_identity(conn, identity, keys, apply_mode="now", now=clock(), genesis=GENESIS_HASH)
        store.save_catalogue(
            conn,
            categories_csv_parse(demo_file("categories.csv")),
            departments_csv_parse(demo_file("departments.csv")),
            grids_from_geojson(json.loads(demo_file("grids.geojson"))),
            json.loads(demo_file("calendar.json")),
        )
    store.close()
    return Device.open(folder, secrets, clock=clock)


@pytest.fixture
def offline_device(tmp_path: Path, clock: Clock) -> Iterator[Device]:
    device = enroll_offline(tmp_path / "phone", clock)
    yield device
    device.close()


# --- the real server, in process -------------------------------------------------------------------


@dataclass
class Server:
    data_dir: Path
    clock: Clock
    app: Any
    services: Any
    transport: httpx.AsyncBaseTransport
    url: str = "http://gridsync.test"
    devices: list[Device] = field(default_factory=list)

    def add_worker(
        self,
        worker_id: str,
        role: str = "worker",
        grids: tuple[str, ...] = (GRID_A,),
        department: str | None = None,
        all_grids: bool = False,
    ) -> str:
        from sync_server.enrollment import add_worker, create_code

        add_worker(
            self.services.store,
            worker_id,
            name=worker_id.title(),
            role=role,
            grids=list(grids),
            department=department,
            all_grids=all_grids,
        )
        return create_code(self.services.store, worker_id, self.clock(), 7 * 86400)

    def device(
        self,
        folder: Path,
        worker_id: str,
        role: str = "worker",
        grids: tuple[str, ...] = (GRID_A,),
        department: str | None = None,
        all_grids: bool = False,
    ) -> Device:
        code = self.add_worker(worker_id, role, grids, department, all_grids)
        device = Device.open(folder, MemorySecretStore(), clock=self.clock, transport=self.transport)
        device.retry_delay = 0.0  # faults here are injected on purpose; no need to wait them out
        run(device.enroll(self.url, code))
        self.devices.append(device)
        return device

    def case(self, case_id: str) -> Any:
        return self.services.store.case(case_id)


def make_server_dir(data_dir: Path) -> None:
    from sync_server.cli import load_demo_city
    from sync_server.config import ServerConfig, save_config
    from sync_server.keys import create_keys
    from sync_server.store import open_store

    data_dir.mkdir(parents=True, exist_ok=True)
    create_keys(data_dir, PASSPHRASE)
    save_config(ServerConfig(data_dir=data_dir))
    open_store(data_dir).close()
    load_demo_city(data_dir)


@pytest.fixture
def server(tmp_path: Path, clock: Clock) -> Iterator[Server]:
    from sync_server.api.app import build_app
    from sync_server.config import load_config
    from sync_server.services import open_services

    data_dir = tmp_path / "server"
    make_server_dir(data_dir)
    services = open_services(load_config(data_dir), PASSPHRASE, clock)
    app = build_app(services)
    harness = Server(data_dir, clock, app, services, httpx.ASGITransport(app=app))
    yield harness
    for device in harness.devices:
        device.close()
    services.close()
