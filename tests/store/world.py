"""A server's world for the store contract suite, on any store: a data directory (keys, config.json
naming the store by its URL), the demo city, workers, and phones that seal segments (built from
shared/ only, as `tests.server.device.TestDevice`). Everything here can be rebuilt from the data
directory in another process: child processes of a race open the same store by its URL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared import crypto
from shared.model import Actor, Role
from sync_server.city import CityCache
from sync_server.cli import load_demo_city
from sync_server.config import ServerConfig, load_config, save_config
from sync_server.enrollment import add_worker
from sync_server.keys import create_keys, load_keys
from sync_server.photos import PhotoShelf
from sync_server.reconcile import Reconciler
from sync_server.store import Store, open_store
from sync_server.store.base import DeviceRecord
from tests.server.device import GRID_A, GRID_B, TestDevice

PASSPHRASE = "correct horse battery staple"
MONDAY_10AM = 1772416800  # 2026-03-02 10:00 +08:00, a working Monday
ADMIN = Actor("admin1", Role.ADMIN, frozenset(), None, False)
PEOPLE: tuple[tuple[str, str, str, list[str], str | None], ...] = (
    ("zhang.wei", "张伟", "worker", [GRID_A], None),
    ("li.na", "李娜", "worker", [GRID_B], None),
    ("chen.sup", "陈主任", "supervisor", [GRID_A, GRID_B], None),
    ("admin1", "管理员", "admin", [], None),
)


class FixedClock:
    def __init__(self, now: int = MONDAY_10AM) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def build_world(data_dir: Path, store_url: str) -> None:
    """Keys, a config whose `database_url` is the store under test, the demo city and the people."""
    data_dir.mkdir(parents=True, exist_ok=True)
    create_keys(data_dir, PASSPHRASE)
    save_config(ServerConfig(data_dir=data_dir, database_url=store_url))
    load_demo_city(data_dir)
    store = open_store(data_dir)
    try:
        for worker_id, name, role, grids, department in PEOPLE:
            add_worker(store, worker_id, name=name, role=role, grids=grids, department=department)
    finally:
        store.close()


def phone(store: Store, data_dir: Path, worker_id: str = "zhang.wei") -> TestDevice:
    """A phone enrolled for `worker_id` (its device record written directly, as enrollment would)."""
    device = TestDevice(None, FixedClock())
    device.device_id = uuid.uuid4().hex
    device.worker_id = worker_id
    device.server = load_keys(data_dir, PASSPHRASE).public.to_dict()
    record = DeviceRecord(
        device.device_id, worker_id, crypto.public_raw(device.signing), crypto.public_raw(device.encryption),
        "Pixel 7", MONDAY_10AM,
    )  # fmt: skip
    with store.transaction() as tx:
        tx.add_device(record)
    return device


@dataclass
class Server:
    """What one server process holds over the store: a reconciler and a photo shelf."""

    store: Store
    reconciler: Reconciler
    photos: PhotoShelf
    party: int = 0  # which party of a race this process is (`tests.store.races`)

    def close(self) -> None:
        self.store.close()


def server(data_dir: Path, store: Store | None = None) -> Server:
    """The server's parts over the data directory's store (`store`: share one already open)."""
    config = load_config(data_dir)
    opened = store if store is not None else open_store(data_dir)
    reconciler = Reconciler(opened, config, load_keys(data_dir, PASSPHRASE), CityCache(opened))
    return Server(opened, reconciler, PhotoShelf(opened, config.photo_dir, config.max_photo_bytes))


def creates(device: TestDevice, count: int, **kw: Any) -> list[dict[str, Any]]:
    return [device.create(**kw) for _ in range(count)]
