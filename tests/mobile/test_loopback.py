"""Over real HTTP: the server under uvicorn on 127.0.0.1, phones with no test transport at all, and the
field simulator (3 phones × 2 rounds) exiting 0."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mobile.core.device import Device
from mobile.core.secrets import MemorySecretStore
from shared.model import case_to_dict
from tests.mobile.conftest import GRID_A, PASSPHRASE, fix_in, jpeg, make_server_dir, run


@dataclass
class LiveServer:
    url: str
    data_dir: Path
    services: object


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[LiveServer]:
    """The demo city's server; `parametrize("live_server", ["no city"], indirect=True)`: one set up
    without `--demo`, which knows no grids, categories or departments."""
    import uvicorn

    from sync_server.api.app import build_app
    from sync_server.config import ServerConfig, load_config, save_config
    from sync_server.keys import create_keys
    from sync_server.services import open_services
    from sync_server.store import open_store

    data_dir = tmp_path / "server"
    if getattr(request, "param", "demo") == "demo":
        make_server_dir(data_dir)
    else:
        data_dir.mkdir()
        create_keys(data_dir, PASSPHRASE)
        save_config(ServerConfig(data_dir=data_dir))
        open_store(data_dir).close()
    monkeypatch.setenv("GRIDSYNC_PASSPHRASE", PASSPHRASE)
    services = open_services(load_config(data_dir), PASSPHRASE)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(build_app(services), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield LiveServer(f"http://127.0.0.1:{port}", data_dir, services)
    server.should_exit = True
    thread.join(10)
    services.close()  # type: ignore[attr-defined]


def test_a_round_trip_over_real_http_on_loopback(live_server: LiveServer, tmp_path: Path) -> None:
    from sync_server.enrollment import add_worker, create_code

    store = live_server.services.store  # type: ignore[attr-defined]
    add_worker(store, "zhang.wei", name="张伟", role="worker", grids=[GRID_A])
    code = create_code(store, "zhang.wei", int(time.time()), 3600)
    phone = Device.open(tmp_path / "phone", MemorySecretStore())
    run(phone.enroll(live_server.url, code))
    case_id = phone.report(
        category="0101",
        location=fix_in(GRID_A, int(time.time())),
        description="井盖",
        photos=[(jpeg(1, (800, 600)), "before")],
    )
    report = run(phone.sync())
    assert report.ok, report.problems
    assert report.ops_sent == 2 and report.photos_uploaded == 1 and phone.pending().empty
    view = phone.case(case_id)
    assert view is not None and case_to_dict(view.case) == case_to_dict(store.case(case_id))
    phone.close()


@pytest.mark.slow
def test_the_simulator_runs_three_devices_for_two_rounds_and_exits_zero(
    live_server: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mobile.sim.cli import main

    status = main(
        [
            "--server",
            live_server.url,
            "--data-dir",
            str(live_server.data_dir),
            "--devices",
            "3",
            "--seed",
            "4",
            "--rounds",
            "2",
            "--workdir",
            str(tmp_path / "phones"),
        ]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    assert "every phone agrees with the server" in out
    assert "sim.worker1" in out and "sim.handler1" in out


@pytest.mark.parametrize("live_server", ["no city"], indirect=True)
def test_the_simulator_against_a_server_without_a_city_says_what_to_load(
    live_server: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mobile.sim.cli import main

    args = ["--server", live_server.url, "--data-dir", str(live_server.data_dir), "--devices", "3"]
    assert main([*args, "--workdir", str(tmp_path / "phones")]) == 2
    err = capsys.readouterr().err
    assert "no grids, categories or departments" in err
    assert "gridsync-server init --demo" in err and "admin import-departments" in err
