"""`make demo` (`python -m mobile.demo`): a whole small city on this machine, from a fresh clone.

1. a sync server data dir with the demo city (`./demo-data/server`), its workers and handlers;
2. the server on 127.0.0.1:8000 (or the next free port);
3. a short field simulation (`mobile.sim.cli`, four virtual phones), so there is history;
4. fresh enrollment codes for a worker and the supervisor;
5. the app served to browsers (web mode, no CDN) on a free port, its enroll screen offering this
   server's address (`GRIDSYNC_DEFAULT_SERVER`), so a new person types only the code.

It prints the URLs, the codes and their `gridsync://` links, then waits. To try the app offline,
stop the sync server alone and start it again (type `s` or `r` and Enter, or `kill -USR1` / `-USR2`
the demo): the app keeps running, and the server comes back on the same port, so phones enrolled
earlier find it. A re-run reuses the server data and its port. Ctrl-C or SIGTERM stops everything it
started (each child in its own process group, terminated then killed), quietly, so nothing is left
running. It never opens a browser.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

DEMO_PASSPHRASE = "gridsync demo passphrase"  # a demo: anyone may know it; never use it for real data
GRIDS_A = "441502001001001,441502001001002,441502001001003"
GRIDS_B = "441502001002001,441502001002002,441502001002003"
#: (worker id, name, role, extra admin flags)
PEOPLE: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("zhang.wei", "张伟", "worker", ("--grids", GRIDS_A)),
    ("li.na", "李娜", "worker", ("--grids", GRIDS_B)),
    ("chen.gang", "陈刚", "handler", ("--department", "municipal", "--all-grids")),
    ("zhao.min", "赵敏", "handler", ("--department", "sanitation", "--all-grids")),
    ("wang.fang", "王芳", "supervisor", ("--all-grids",)),
)


class DemoStopped(BaseException):
    """Ctrl-C or SIGTERM: stop everything, quietly (not an error, so no traceback)."""


class Demo:
    def __init__(self, root: Path, *, fresh: bool, sim_devices: int) -> None:
        self.root = root
        self.fresh = fresh
        self.sim_devices = sim_devices
        self.server_dir = root / "server"
        self.children: list[subprocess.Popen[bytes]] = []
        self.server: subprocess.Popen[bytes] | None = None
        self.server_port = 0
        #: what the person asked for while the demo runs: "stop" or "start" the sync server
        self.requests: list[str] = []
        self.wake = threading.Event()
        passphrase = os.environ.get("GRIDSYNC_PASSPHRASE")
        self.passphrase_given = bool(passphrase)
        self.env = {
            **os.environ,
            "GRIDSYNC_PASSPHRASE": passphrase or DEMO_PASSPHRASE,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(Path.cwd()), os.environ.get("PYTHONPATH", "")])),
        }

    # --- steps ------------------------------------------------------------------------------------
    def server_cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "sync_server.cli", "--data-dir", str(self.server_dir), *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise SystemExit(f"gridsync-server {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def init_server(self, url: str) -> None:
        if (self.server_dir / "config.json").exists():
            say(f"using the existing server data in {self.server_dir} (--fresh starts over)")
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self.server_cli("init", "--demo", "--server-url", url)
        for worker_id, name, role, extra in PEOPLE:
            self.server_cli("admin", "add-worker", worker_id, "--name", name, "--role", role, *extra)
        say(f"server data in {self.server_dir}: demo city, {len(PEOPLE)} people")

    def start(
        self, args: Sequence[str], log: Path, extra_env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            child = subprocess.Popen(
                [sys.executable, *args],
                env={**self.env, **(extra_env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: stopped with its children
            )
        self.children.append(child)
        return child

    def simulate(self, url: str) -> None:
        say(f"field simulation: {self.sim_devices} virtual phones…")
        # Its virtual phones are new each run (their history is on the server): a phone kept from
        # the last run would be enrolled already.
        shutil.rmtree(self.root / "sim", ignore_errors=True)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "mobile.sim.cli",
                "--server",
                url,
                "--data-dir",
                str(self.server_dir),
                "--devices",
                str(self.sim_devices),
                "--seed",
                "1",
                "--workdir",
                str(self.root / "sim"),
            ],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        (self.root / "sim.log").write_text(done.stdout + done.stderr, "utf-8")
        last = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
        if done.returncode:
            say(f"the simulation reported a problem (see {self.root / 'sim.log'}): {last}")
        else:
            say(f"simulation done: {last}")

    def codes(self) -> list[tuple[str, str, str]]:
        out = []
        for worker_id in ("zhang.wei", "wang.fang"):
            lines = [line.strip() for line in self.server_cli("admin", "enroll-code", worker_id).splitlines()]
            code = next(line for line in lines if len(line) == 14 and line.count("-") == 2)
            link = next(line for line in lines if line.startswith("gridsync://"))
            out.append((worker_id, code, link))
        return out

    def stop(self) -> None:
        for child in self.children:
            if child.poll() is None:
                with _quiet():
                    os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for child in self.children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with _quiet():
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait(5)
        self.children.clear()

    def known_port(self) -> int | None:
        """The port of the server URL this data was made with (phones enrolled earlier know it)."""
        with _quiet_io():
            config = json.loads((self.server_dir / "config.json").read_text("utf-8"))
            return urllib.parse.urlsplit(str(config.get("server_url", ""))).port
        return None

    def start_server(self) -> None:
        self.server = self.start(
            [
                "-m",
                "sync_server.cli",
                "--data-dir",
                str(self.server_dir),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.server_port),
            ],
            self.root / "server.log",
        )
        wait_http(f"http://127.0.0.1:{self.server_port}/health", self.server)

    def stop_server(self) -> None:
        server, self.server = self.server, None
        if server is None:
            return
        self.children.remove(server)
        _end(server)

    # --- the whole thing --------------------------------------------------------------------------
    def run(self, server_port: int, app_port: int) -> int:
        if self.fresh and self.root.exists():
            shutil.rmtree(self.root)
        self.server_port = free_port(self.known_port() or server_port)
        server_url = f"http://127.0.0.1:{self.server_port}"
        self.init_server(server_url)
        self.start_server()
        say(f"sync server at {server_url} (log: {self.root / 'server.log'})")
        if self.sim_devices:
            self.simulate(server_url)
        codes = self.codes()
        app_port = free_port(app_port)
        app_url = f"http://127.0.0.1:{app_port}"
        app = self.start(
            ["-m", "mobile.app", "--web", "--port", str(app_port)],
            self.root / "app.log",
            # a new phone finds the server address filled in: the person types only the code
            {"FLET_APP_STORAGE_DATA": str(self.root / "app"), "GRIDSYNC_DEFAULT_SERVER": server_url},
        )
        wait_http(app_url, app)
        self.banner(server_url, app_url, codes)
        threading.Thread(target=self.read_keys, daemon=True).start()
        return self.watch(app)

    def watch(self, app: subprocess.Popen[bytes]) -> int:
        """Run until stopped. The sync server may be stopped and started again meanwhile (by a key,
        a signal, or from outside): the app keeps running. The app stopping ends the demo."""
        reported_down = False
        while app.poll() is None:
            self.wake.wait(0.5)
            self.wake.clear()
            while self.requests:
                wanted = self.requests.pop(0)
                if wanted == "stop" and self.server is not None:
                    self.stop_server()
                    say("sync server stopped: the app keeps running, offline. Start it again: r + Enter")
                elif wanted == "start" and (self.server is None or self.server.poll() is not None):
                    if self.server is not None:
                        self.children.remove(self.server)
                    self.start_server()
                    reported_down = False
                    say(f"sync server running again at http://127.0.0.1:{self.server_port}")
            if self.server is not None and self.server.poll() is not None and not reported_down:
                reported_down = True
                say(
                    f"the sync server stopped (exit {self.server.returncode}); the app keeps running. "
                    f"Start it again: r + Enter (log: {self.root / 'server.log'})"
                )
        say(f"the app stopped (exit {app.returncode}); see {self.root / 'app.log'}")
        return 1

    def read_keys(self) -> None:
        """`s` + Enter stops the sync server, `r` + Enter starts it again (no terminal: nothing)."""
        with _quiet_io():
            for line in sys.stdin:
                key = line.strip().lower()
                if key in ("s", "stop"):
                    self.ask("stop")
                elif key in ("r", "start", "restart"):
                    self.ask("start")

    def ask(self, what: str) -> None:
        self.requests.append(what)
        self.wake.set()

    def banner(self, server_url: str, app_url: str, codes: list[tuple[str, str, str]]) -> None:
        lines = [
            "",
            "gridsync demo is running",
            f"  the app (open in a browser; each browser is its own phone):  {app_url}",
            f"  the sync server:                                              {server_url}  (API docs {server_url}/docs)",
            "",
            "  enroll in the app with one of these one-time codes (the server address is filled in)",
            "  (or paste the link into the 'Enrollment link' field):",
        ]
        for worker_id, code, link in codes:
            who = next(f"{name} ({role})" for w, name, role, _ in PEOPLE if w == worker_id)
            lines += [f"    {who:<22} {code}", f"      {link}"]
        if not self.passphrase_given:
            lines += [
                "",
                f"  server key passphrase (demo only): {DEMO_PASSPHRASE!r} — set GRIDSYNC_PASSPHRASE to choose one",
            ]
        lines += [
            f"  more codes:  {self.more_codes_command()}",
            "              (WORKER: zhang.wei, li.na, chen.gang, zhao.min, wang.fang)",
            f"  logs and data: {self.root}",
            "",
            "  try offline: s + Enter stops the sync server, r + Enter starts it again (or "
            f"kill -USR1 {os.getpid()} / kill -USR2 {os.getpid()}); the app keeps running",
            f"  stop: Ctrl-C (or kill -TERM {os.getpid()}); everything started here stops with it",
            "",
        ]
        print("\n".join(lines), flush=True)

    def more_codes_command(self) -> str:
        """A command that works as printed, from any folder: this Python (the venv's), absolute paths,
        and the passphrase when it is the demo's own."""
        prefix = "" if self.passphrase_given else f"GRIDSYNC_PASSPHRASE={shlex.quote(DEMO_PASSPHRASE)} "
        return (
            prefix
            + shlex.join(
                [
                    sys.executable,
                    "-m",
                    "sync_server.cli",
                    "--data-dir",
                    str(self.server_dir),
                    "admin",
                    "enroll-code",
                ]
            )
            + " WORKER"
        )


def _end(child: subprocess.Popen[bytes]) -> None:
    """Stop a child and its group: terminate, then kill after 10 s."""
    if child.poll() is None:
        with _quiet():
            os.killpg(child.pid, signal.SIGTERM)
    try:
        child.wait(10)
    except subprocess.TimeoutExpired:
        with _quiet():
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(5)


class _quiet_io:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return isinstance(exc[1], OSError | ValueError)


class _quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return isinstance(exc[1], ProcessLookupError | PermissionError)


def say(text: str) -> None:
    print(f"[demo] {text}", flush=True)


def free_port(start: int) -> int:
    """`start` if nothing listens there, else the next free one. Probed as the server binds
    (SO_REUSEADDR, as uvicorn does): a port whose old connections wait in TIME_WAIT is free."""
    for port in range(start, start + 100):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit(f"no free port in {start}..{start + 99}")


def wait_http(url: str, child: subprocess.Popen[bytes], timeout: float = 90) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if child.poll() is not None:
            raise SystemExit(
                f"{' '.join(map(str, child.args[1:4]))} exited with {child.returncode} before {url} answered"
            )
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {timeout:.0f}s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mobile.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("demo-data"), help="where the demo keeps everything")
    parser.add_argument("--fresh", action="store_true", help="delete the demo data and start over")
    parser.add_argument("--server-port", type=int, default=8000)
    parser.add_argument("--app-port", type=int, default=8550)
    parser.add_argument(
        "--sim-devices", type=int, default=4, help="virtual phones in the simulation (0: none)"
    )
    args = parser.parse_args(argv)
    demo = Demo(args.dir.resolve(), fresh=args.fresh, sim_devices=args.sim_devices)

    def terminate(signum: int, frame: FrameType | None) -> None:
        # Once: a second Ctrl-C while stopping must not interrupt the stopping.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise DemoStopped

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    signal.signal(signal.SIGUSR1, lambda signum, frame: demo.ask("stop"))
    signal.signal(signal.SIGUSR2, lambda signum, frame: demo.ask("start"))
    try:
        return demo.run(args.server_port, args.app_port)
    except DemoStopped:
        say("stopping…")
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        demo.stop()
        say("stopped")


if __name__ == "__main__":
    sys.exit(main())
