"""One HTTP client per phone (issue 13): its connections are reused from round to round, and closed on
sign-out, on close, and when the event loop that made them ends. Counted on real TCP: the server
runs under uvicorn on 127.0.0.1 and the phone reaches it through a proxy that counts connections."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mobile.core.device import Device
from mobile.core.secrets import MemorySecretStore
from tests.mobile.conftest import GRID_A, fix_in, run
from tests.mobile.test_loopback import LiveServer, live_server  # noqa: F401  (the fixture)


class CountingProxy:
    """A TCP forwarder on 127.0.0.1 that counts the connections it accepts and those still open."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self.open = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            with self._lock:
                self.accepted += 1
                self.open += 1
            threading.Thread(target=self._serve, args=(client, upstream), daemon=True).start()

    def _serve(self, client: socket.socket, upstream: socket.socket) -> None:
        back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
        back.start()
        _pump(client, upstream)  # until the phone closes its side
        with self._lock:
            self.open -= 1
        upstream.close()
        back.join(5)
        client.close()

    def close(self) -> None:
        self.listener.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _wait(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


@pytest.fixture
def proxy(live_server: LiveServer) -> Iterator[CountingProxy]:  # noqa: F811
    counting = CountingProxy(int(live_server.url.rsplit(":", 1)[1]))
    yield counting
    counting.close()


def _enrolled_phone(live_server: LiveServer, proxy: CountingProxy, folder: Path) -> Device:  # noqa: F811
    from sync_server.enrollment import add_worker, create_code

    store = live_server.services.store  # type: ignore[attr-defined]
    add_worker(store, "zhang.wei", name="张伟", role="worker", grids=[GRID_A])
    phone = Device.open(folder, MemorySecretStore())
    run(phone.enroll(proxy.url, create_code(store, "zhang.wei", int(time.time()), 3600)))
    _wait(lambda: proxy.open == 0)  # enrolment's own client is closed
    return phone


def test_rounds_reuse_one_connection_and_sign_out_closes_it(
    live_server: LiveServer,  # noqa: F811
    proxy: CountingProxy,
    tmp_path: Path,
) -> None:
    phone = _enrolled_phone(live_server, proxy, tmp_path / "phone")
    before = proxy.accepted

    async def rounds() -> None:  # one event loop, as in the app
        for i in range(4):
            phone.report(category="0101", location=fix_in(GRID_A, int(time.time())), description=f"#{i}")
            report = await phone.sync()
            assert report.ok, report.problems
            assert phone.pending().empty
        assert proxy.open == 1
        phone.sign_out()
        await asyncio.sleep(0)  # the close runs as a task of this loop
        await asyncio.to_thread(_wait, lambda: proxy.open == 0)

    run(rounds())
    assert proxy.accepted - before == 1  # four rounds (pull, push, pull …), one connection
    phone.close()


def test_a_phone_closed_or_its_loop_ended_leaves_no_connection_open(
    live_server: LiveServer,  # noqa: F811
    proxy: CountingProxy,
    tmp_path: Path,
) -> None:
    phone = _enrolled_phone(live_server, proxy, tmp_path / "phone")
    for _ in range(2):  # each asyncio.run is a loop of its own; its end closes that loop's client
        assert run(phone.sync()).ok
        _wait(lambda: proxy.open == 0)

    async def then_close() -> None:
        assert (await phone.sync()).ok
        assert proxy.open == 1
        phone.close()
        await asyncio.sleep(0)
        await asyncio.to_thread(_wait, lambda: proxy.open == 0)

    run(then_close())
