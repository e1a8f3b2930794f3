"""A whole server in this process, and real phones (`mobile.core.device.Device`) enrolled in it.

The app is the real one (`sync_server.api.app.build_app`) over the real services; the phones talk to
it through an httpx transport — `httpx.ASGITransport` in-process, or any wrapper around it (the fault
tests put a fault-injecting transport in between). The clock is a settable integer shared by the
server and the phones, so signed requests, deadlines and the backlog's wait are deterministic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from bench import fleet
from mobile.core.device import Device
from sync_server.api.app import build_app
from sync_server.config import load_config
from sync_server.enrollment import create_code
from sync_server.services import Services, open_services

SERVER_URL = "http://gridsync.test"


class Clock:
    """Seconds since the epoch, moved by hand."""

    def __init__(self, now: int = fleet.NOW) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def add_workers(services: Services, members: list[fleet.Member]) -> None:
    with services.store.transaction() as tx:
        for m in members:
            tx.save_worker(m.worker_record())


class Server:
    """The server's services and app over a data directory made by `fleet.build_server`."""

    def __init__(self, data_dir: Path, clock: Clock | None = None) -> None:
        self.data_dir = data_dir
        self.clock = clock or Clock()
        self.services = open_services(load_config(data_dir), fleet.PASSPHRASE, self.clock)
        self.app = build_app(self.services)

    def transport(self) -> httpx.AsyncBaseTransport:
        return httpx.ASGITransport(app=self.app)

    def code_for(self, worker_id: str) -> str:
        return create_code(self.services.store, worker_id, self.clock(), 3600)

    async def phone(
        self, folder: Path, worker_id: str, transport: httpx.AsyncBaseTransport | None = None, **kw: Any
    ) -> Device:
        """A fresh phone in `folder`, enrolled as `worker_id` through the API."""
        device = Device.open(folder, clock=self.clock, transport=transport or self.transport(), **kw)
        await device.enroll(SERVER_URL, self.code_for(worker_id), device_name=folder.name)
        return device

    def close(self) -> None:
        self.services.close()
