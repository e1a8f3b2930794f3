"""`gridsync-server`: init, serve (a real uvicorn on a free port), admin, queue mode + ingest."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sync_server.cli import main
from sync_server.keys import load_keys
from tests.server.device import TestDevice, hex32

REPO = Path(__file__).resolve().parents[2]


class Clock:
    @property
    def now(self) -> int:
        return int(time.time())


def _env(data_dir: Path, passphrase: str) -> dict[str, str]:
    return {
        **os.environ,
        "GRIDSYNC_DATA_DIR": str(data_dir),
        "GRIDSYNC_PASSPHRASE": passphrase,
        "PYTHONPATH": str(REPO),
    }


def _cli(data_dir: Path, passphrase: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sync_server.cli", *args], env=_env(data_dir, passphrase), capture_output=True,
        text=True, timeout=60, cwd=REPO,
    )  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_init_creates_encrypted_keys_config_and_the_demo_city(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    monkeypatch.setenv("GRIDSYNC_PASSPHRASE", "s3cret")
    assert main(["--data-dir", str(tmp_path / "d"), "init", "--demo"]) == 0
    assert "server signing key id" in capsys.readouterr().out
    assert b"ENCRYPTED" in (tmp_path / "d" / "keys" / "signing.pem").read_bytes()
    load_keys(tmp_path / "d", "s3cret")
    with pytest.raises(ValueError, match="wrong passphrase"):
        load_keys(tmp_path / "d", "wrong")
    assert main(["--data-dir", str(tmp_path / "d"), "init"]) == 2  # never overwrites keys


def test_serve_refuses_a_wrong_passphrase_before_listening(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert _cli(data, "right", "init", "--demo").returncode == 0
    result = _cli(data, "wrong", "serve", "--port", str(_free_port()))
    assert result.returncode == 2
    assert "wrong passphrase" in result.stderr


def test_admin_commands_manage_workers_codes_and_devices(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    monkeypatch.setenv("GRIDSYNC_PASSPHRASE", "pw")
    d = ["--data-dir", str(tmp_path / "d")]
    main([*d, "init", "--demo"])
    assert main([*d, "admin", "add-worker", "zhang.wei", "--name", "张伟", "--role", "worker", "--grids",
                 "441502001001001"]) == 0  # fmt: skip
    assert main([*d, "admin", "add-worker", "Bad Id", "--name", "x", "--role", "worker"]) == 2
    capsys.readouterr()
    assert main([*d, "admin", "enroll-code", "zhang.wei", "--qr", str(tmp_path / "code.png")]) == 0
    code, link = capsys.readouterr().out.splitlines()[:2]
    assert len(code) == 14 and link.startswith("gridsync://enroll?server=http%3A%2F%2F127.0.0.1%3A8000&code=")
    assert (tmp_path / "code.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main([*d, "admin", "devices"]) == 0
    assert main([*d, "admin", "revoke", "ab" * 16]) == 2


def _start(data: Path, *extra: str, both: bool = False) -> tuple[str, subprocess.Popen[str]]:
    """`serve` over a new data directory; its log is its standard error (with `both`: and its
    standard output, in one stream)."""
    assert _cli(data, "pw", "init", "--demo").returncode == 0
    assert _cli(data, "pw", "admin", "add-worker", "zhang.wei", "--name", "张伟", "--role", "worker", "--grids",
                "441502001001001").returncode == 0  # fmt: skip
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sync_server.cli", "serve", "--port", str(port), *extra],
        env=_env(data, "pw"), cwd=REPO, stdout=subprocess.PIPE if both else subprocess.DEVNULL,
        stderr=subprocess.STDOUT if both else subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return url, process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("the server did not start")


def _stop(process: subprocess.Popen[str]) -> str:
    """SIGTERM, as a service manager stops it; the server's log."""
    process.terminate()
    try:
        out, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return err if err is not None else out


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    data = tmp_path / "live"
    url, process = _start(data)
    try:
        yield url, data
    finally:
        _stop(process)


def test_a_phone_enrolls_pushes_and_pulls_against_a_real_server(live_server: tuple[str, Path]) -> None:
    url, data = live_server
    assert httpx.get(f"{url}/health").json() == {"status": "ok", "store": "sqlite", "version": "0.1.0"}
    code = _cli(data, "pw", "admin", "enroll-code", "zhang.wei").stdout.splitlines()[0]
    with httpx.Client(base_url=url) as client:
        phone = TestDevice(client, Clock())
        phone.enroll(code)
        case_id = hex32()
        receipt = phone.push_ops([phone.create(case_id), phone.note(case_id)])
        assert [o["outcome"] for o in receipt["outcomes"]] == ["applied", "applied"]
        page = phone.pull()
        assert page["cases"][0]["case_id"] == case_id and len(page["outcomes"]) == 2
        metrics = client.get("/metrics").text
        assert 'gridsync_segments_total{status="applied"} 1.0' in metrics
        assert client.get("/open311/v2/services.json").status_code == 200


def test_serve_with_two_workers_serves_phones_and_stops_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "live2"
    url, process = _start(data, "--workers", "2")
    try:
        code = _cli(data, "pw", "admin", "enroll-code", "zhang.wei").stdout.splitlines()[0]
        with httpx.Client(base_url=url) as client:
            phone = TestDevice(client, Clock())
            phone.enroll(code)
            case_ids = [hex32() for _ in range(6)]
            for case_id in case_ids:
                receipt = phone.push_ops([phone.create(case_id), phone.note(case_id)])
                assert [o["outcome"] for o in receipt["outcomes"]] == ["applied", "applied"]
            assert set(phone.pull_all()["cases"]) == set(case_ids)
    finally:
        log = _stop(process)
    assert process.returncode == 0, log
    assert log.count("Started server process") == 2, log  # two workers, each its own process
    assert "Traceback" not in log, log


def test_serve_logs_each_request_once_as_json(tmp_path: Path) -> None:
    """One line a request, the JSON one (route, status, ms, device): not uvicorn's access line too
    (which went to standard output, so a log of both streams had every request twice)."""
    url, process = _start(tmp_path / "logs", both=True)
    try:
        for _ in range(3):
            assert httpx.get(f"{url}/open311/v2/services.json").status_code == 200
    finally:
        log = _stop(process)
    lines = [line for line in log.splitlines() if "/open311/v2/services.json" in line]
    assert len(lines) == 3, log
    assert all(json.loads(line)["path"] == "/open311/v2/services.json" for line in lines), log


def test_a_serving_process_freezes_its_started_heap_and_collects_young_objects_less_often() -> None:
    """`serve` (and each `--workers` process) calls `settle_heap` once its app is built: run here in
    a process of its own, so this test process keeps its own collector as it was."""
    script = (
        "import gc; from sync_server.api.serving import YOUNG_COLLECTION_EVERY, settle_heap; "
        "before = gc.get_threshold(); settle_heap(); "
        "print(gc.get_freeze_count() > 10_000, gc.get_threshold() == (YOUNG_COLLECTION_EVERY, *before[1:]), "
        "YOUNG_COLLECTION_EVERY > before[0])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
        text=True, timeout=60, check=True,
    )  # fmt: skip
    assert done.stdout.split() == ["True", "True", "True"]


@pytest.mark.parametrize("config_overrides", [{"apply_mode": "queue"}])
def test_in_queue_mode_a_segment_is_spooled_then_applied_by_the_ingest(worker: Any, services: Any) -> None:
    from sync_server.ingest import run_ingest

    receipt = worker.push_ops([worker.create()])
    assert receipt["status"] == "queued" and receipt["outcomes"] == []
    assert services.store.change_seq() == 0
    summary = run_ingest(services, services.config.spool_dir, progress=False)
    assert summary.segments["applied"] == 1
    assert worker.pull()["outcomes"][0]["outcome"] == "applied"


def test_every_subcommand_takes_data_dir_after_its_name_too(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    """docs/server.md: `--data-dir` goes before or after the subcommand, as people type it."""
    monkeypatch.setenv("GRIDSYNC_PASSPHRASE", "pw")
    monkeypatch.delenv("GRIDSYNC_DATA_DIR", raising=False)
    data = str(tmp_path / "d")
    assert main(["init", "--demo", "--data-dir", data]) == 0
    assert (tmp_path / "d" / "gridsync.db").is_file()
    assert (
        main(["admin", "add-worker", "zhang.wei", "--name", "张伟", "--role", "worker", "--data-dir", data])
        == 0
    )
    assert main(["admin", "--data-dir", data, "devices"]) == 0
    assert main(["report", "--data-dir", data, "--output", str(tmp_path / "r.txt")]) == 0
    assert main(["export", str(tmp_path / "cases.csv"), "--data-dir", data]) == 0
    other = tmp_path / "other"
    assert (
        main(["--data-dir", str(other), "export", str(tmp_path / "c2.csv"), "--data-dir", data]) == 0
    )  # the nearer wins
    assert not other.exists()
