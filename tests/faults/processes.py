"""The server as a real process: `gridsync-server serve` and `ingest`, started, killed (SIGKILL), and
started again over the same data directory. Everything listens on 127.0.0.1 only, and every wait is
bounded."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench import fleet
from shared.auth import new_nonce, sign_request
from sync_server.city import CityCache
from sync_server.config import load_config
from sync_server.keys import load_keys
from sync_server.reconcile import Reconciler
from sync_server.store import open_store

ROOT = Path(__file__).resolve().parents[2]


def env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "GRIDSYNC_PASSPHRASE": fleet.PASSPHRASE,
            "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)}  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServeProcess:
    """`python -m sync_server.cli serve` on a fixed loopback port, restartable after a kill."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sync_server.cli", "--data-dir", str(self.data_dir), "serve",
                 "--host", "127.0.0.1", "--port", str(self.port)],
                env=env(), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}"
                )
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("server did not come up")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)


def signed_post(client: httpx.AsyncClient, m: fleet.Member, blob: bytes) -> object:
    headers = sign_request(
        m.signing, m.device_id, "POST", "/v1/segments", "", blob, int(time.time()), new_nonce()
    )
    headers["Content-Type"] = "application/octet-stream"
    return client.post("/v1/segments", content=blob, headers=headers)


def reference(pristine: Path, work: Path, streams: dict[str, list[bytes]]) -> Path:
    """The same segments applied by a server that is never killed: a copy of the untouched data dir,
    each device's segments in sequence order, through the reconciler in this process."""
    target = work / "reference"
    shutil.copytree(pristine, target)
    store = open_store(target)
    try:
        reconciler = Reconciler(
            store, load_config(target), load_keys(target, fleet.PASSPHRASE), CityCache(store)
        )
        now = int(time.time())
        for blobs in streams.values():
            for blob in blobs:
                assert reconciler.apply_segment(blob, now, now)["status"] == "applied"
    finally:
        store.close()
    return target
