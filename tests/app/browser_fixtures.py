"""The browser tests' world: a real sync server process over a demo city, the app served in web mode
(no CDN) with its data in a temporary folder, and Debian's Chromium driven by Playwright.

Every browser context is its own phone: the app keeps one device per browser (a slot id in the
browser's local storage, see `mobile/app/state/session.py`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    # a camera that draws a test pattern, allowed without a prompt (the context grants "camera")
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
PASSPHRASE = "e2e passphrase"
SCREENSHOTS = REPO / "docs" / "screenshots"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2):
            return
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end on its own thread (Playwright's sync API owns this one)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclass
class City:
    """The sync server process and its admin commands."""

    data_dir: Path
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "sync_server.cli", "--data-dir", str(self.data_dir), *args],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"gridsync-server {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def add_worker(
        self,
        worker_id: str,
        name: str,
        role: str,
        *,
        grids: str = "",
        department: str = "",
        all_grids: bool = False,
    ) -> None:
        args = ["admin", "add-worker", worker_id, "--name", name, "--role", role]
        if grids:
            args += ["--grids", grids]
        if department:
            args += ["--department", department]
        if all_grids:
            args.append("--all-grids")
        self.cli(*args)

    def enroll_code(self, worker_id: str) -> tuple[str, str]:
        """(code, gridsync:// link)."""
        lines = [
            line.strip() for line in self.cli("admin", "enroll-code", worker_id).splitlines() if line.strip()
        ]
        code = next(line for line in lines if len(line) == 14 and line.count("-") == 2)
        link = next(line for line in lines if line.startswith("gridsync://"))
        return code, link

    def start(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        with self.log.open("ab") as out:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "sync_server.cli",
                    "--data-dir",
                    str(self.data_dir),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                env=self.env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_http(self.url + "/health")

    def stop(self) -> None:
        """The network is gone: the server is not there at all."""
        stop(self.process)
        self.process = None


@pytest.fixture(scope="session")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    root = tmp_path_factory.mktemp("city")
    port = free_port()
    env = {**os.environ, "GRIDSYNC_PASSPHRASE": PASSPHRASE, "PYTHONPATH": str(REPO)}
    harness = City(root / "server", port, root / "server.log", env=env)
    harness.cli("init", "--demo", "--server-url", f"http://127.0.0.1:{port}")
    harness.add_worker("zhang.wei", "张伟", "worker", grids="441502001001001,441502001001002")
    harness.add_worker("li.na", "李娜", "worker", grids="441502001001001")
    harness.add_worker("wang.fang", "王芳", "supervisor", all_grids=True)
    harness.add_worker("chen.gang", "陈刚", "handler", department="municipal", all_grids=True)
    harness.start()
    yield harness
    harness.stop()


@dataclass
class AppServer:
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    root = tmp_path_factory.mktemp("app")
    port = free_port()
    env = {**os.environ, "FLET_APP_STORAGE_DATA": str(root / "data"), "PYTHONPATH": str(REPO)}
    with (root / "app.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mobile.app", "--web", "--port", str(port)],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url)
        yield AppServer(url, root / "data", process)
    finally:
        stop(process)
        if process.returncode not in (0, -signal.SIGTERM):
            print((root / "app.log").read_text("utf-8", "replace")[-4000:])


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Module-scoped: Playwright's sync API keeps an event loop running on this thread while it is
    open, and the headless tests in other modules use asyncio.run."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian chromium is needed: make browser-deps"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
