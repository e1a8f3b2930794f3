"""`make demo` for a newcomer, run as a real process: it installs only the server and web extras,
the sync server can be stopped and started alone while the app keeps running, the hint for more
codes works as printed, SIGTERM stops it as quietly as Ctrl-C, and a re-run works on the same port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.app.browser_fixtures import REPO, free_port

pytestmark = pytest.mark.slow


def make_dry_run(target: str) -> str:
    return subprocess.run(
        ["make", "-n", "-B", target, "VENV=/nonexistent-venv"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


def test_make_demo_installs_only_what_it_runs_and_make_test_installs_the_tools() -> None:
    demo = make_dry_run("demo")
    installs = [line for line in demo.splitlines() if "pip install" in line and "-e" in line]
    assert installs and all("'.[server,web]'" in line for line in installs), installs
    assert "[dev]" not in demo
    assert "-e '.[dev]'" in make_dry_run("test")


class RunningDemo:
    """`python -m mobile.demo` with its output collected line by line."""

    def __init__(self, folder: Path, server_port: int, app_port: int) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("GRIDSYNC_PASSPHRASE", "PYTHONPATH")}
        env["PYTHONPATH"] = str(REPO)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mobile.demo",
                "--dir",
                str(folder),
                "--server-port",
                str(server_port),
                "--app-port",
                str(app_port),
                "--sim-devices",
                "1",
            ],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 180) -> re.Match[str]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            found = re.search(pattern, self.output)
            if found:
                return found
            assert self.process.poll() is None, f"the demo ended:\n{self.output}"
            time.sleep(0.2)
        raise AssertionError(f"no {pattern!r} within {timeout}s:\n{self.output}")

    def type(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(60)
        time.sleep(0.3)  # the reader thread takes the last lines
        return code


def stop(demo: RunningDemo) -> None:
    if demo.process.poll() is None:
        demo.process.send_signal(signal.SIGTERM)
        try:
            demo.process.wait(30)
        except subprocess.TimeoutExpired:
            demo.process.kill()
            demo.process.wait(10)
    for stream in (demo.process.stdin, demo.process.stdout):
        if stream is not None:
            stream.close()


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def server_pid(port: int) -> int:
    """The process serving the sync server on this port (found by its command line)."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"sync_server.cli" in words and b"serve" in words and str(port).encode() in words:
            return int(cmdline.parent.name)
    raise AssertionError(f"no sync server on port {port}")


def until(check, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.2)


def test_the_demo_lets_the_server_stop_and_start_alone_stops_quietly_and_runs_again(tmp_path: Path) -> None:
    server_port, app_port = free_port(), free_port()
    demo = RunningDemo(tmp_path / "demo", server_port, app_port)
    try:
        demo.wait_for("gridsync demo is running")
        server = demo.wait_for(r"the sync server:\s+(http://127\.0\.0\.1:(\d+))")
        assert int(server[2]) == server_port
        health = server[1] + "/health"
        app_url = demo.wait_for(r"the app .*:\s+(http://127\.0\.0\.1:\d+)")[1]
        assert "reported a problem" not in demo.output

        # the hint for more codes works as printed, from another folder, with no PYTHONPATH
        command = demo.wait_for(r"more codes:\s+(.+ WORKER)")[1].replace("WORKER", "li.na")
        env = {k: v for k, v in os.environ.items() if k not in ("GRIDSYNC_PASSPHRASE", "PYTHONPATH")}
        made = subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        assert made.returncode == 0 and "gridsync://" in made.stdout, made.stderr

        # stop the sync server alone: the app keeps running; start it again on the same port
        demo.type("s")
        until(lambda: not answers(health))
        assert answers(app_url) and demo.process.poll() is None
        demo.wait_for("sync server stopped")
        demo.type("r")
        demo.wait_for("sync server running again")
        assert answers(health) and answers(app_url)

        # killed from outside, the server is reported and can be started again
        os.kill(server_pid(server_port), signal.SIGTERM)
        demo.wait_for("the sync server stopped")
        assert answers(app_url)
        os.kill(demo.process.pid, signal.SIGUSR2)
        until(lambda: answers(health))

        assert demo.terminate() == 0
        assert "Traceback" not in demo.output and "KeyboardInterrupt" not in demo.output, demo.output
        assert not answers(app_url) and not answers(health)
    finally:
        stop(demo)

    # a second run: same data, same server port (its old connections may still be in TIME_WAIT)
    again = RunningDemo(tmp_path / "demo", server_port + 1000 if server_port < 64000 else 1025, app_port)
    try:
        again.wait_for("gridsync demo is running")
        assert again.wait_for(r"the sync server:\s+http://127\.0\.0\.1:(\d+)")[1] == str(server_port)
        assert "reported a problem" not in again.output, again.output
        assert again.terminate() == 0
        assert "Traceback" not in again.output
    finally:
        stop(again)
