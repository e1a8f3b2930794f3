"""Fixtures: a data directory with the demo city, a settable clock, the app, and enrolled phones."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sync_server.api.app import build_app
from sync_server.cli import load_demo_city
from sync_server.config import ServerConfig, save_config
from sync_server.enrollment import add_worker, create_code
from sync_server.keys import create_keys
from sync_server.services import Services, open_services
from sync_server.store import open_store
from tests.server.asgi import SyncClient, asgi_client
from tests.server.device import GRID_A, GRID_B, TestDevice

PASSPHRASE = "correct horse battery staple"
MONDAY_10AM = 1772416800  # 2026-03-02 10:00 +08:00, a working Monday


class Clock:
    def __init__(self, now: int = MONDAY_10AM) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def make_data_dir(path: Path, **config: object) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    create_keys(path, PASSPHRASE)
    save_config(ServerConfig(data_dir=path, **config))  # type: ignore[arg-type]
    open_store(path).close()
    load_demo_city(path)
    return path


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def config_overrides() -> dict[str, object]:
    return {}


@pytest.fixture
def data_dir(tmp_path: Path, config_overrides: dict[str, object]) -> Path:
    return make_data_dir(tmp_path / "data", **config_overrides)


@pytest.fixture
def services(data_dir: Path, clock: Clock) -> Iterator[Services]:
    from sync_server.config import load_config

    opened = open_services(load_config(data_dir), PASSPHRASE, clock)
    people = (
        ("zhang.wei", "张伟", "worker", [GRID_A], None),
        ("li.na", "李娜", "worker", [GRID_B], None),
        ("chen.sup", "陈主任", "supervisor", [GRID_A, GRID_B], None),
        ("wang.h", "王师傅", "handler", [], "municipal"),
        ("admin1", "管理员", "admin", [], None),
    )
    for worker_id, name, role, grids, department in people:
        add_worker(opened.store, worker_id, name=name, role=role, grids=grids, department=department)
    yield opened
    opened.close()


@pytest.fixture
def client(services: Services) -> Iterator[SyncClient]:
    with asgi_client(build_app(services)) as sync_client:
        yield sync_client


@pytest.fixture
def enrolled(client: SyncClient, services: Services, clock: Clock) -> Callable[[str], TestDevice]:
    """`enrolled("zhang.wei")`: a phone enrolled for that worker."""

    def make(worker_id: str) -> TestDevice:
        device = TestDevice(client, clock)
        device.enroll(create_code(services.store, worker_id, clock.now, 3600))
        return device

    return make


@pytest.fixture
def worker(enrolled: Callable[[str], TestDevice]) -> TestDevice:
    return enrolled("zhang.wei")


@pytest.fixture
def supervisor(enrolled: Callable[[str], TestDevice]) -> TestDevice:
    return enrolled("chen.sup")
