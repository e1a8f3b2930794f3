"""The server's admin commands, run as subprocesses on its data directory (the simulator never imports
the server: the phone side and the server side stay independent, as the import contract says)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import mobile

PROJECT_ROOT = Path(mobile.__file__).resolve().parent.parent


class AdminError(RuntimeError):
    pass


@dataclass(frozen=True)
class ServerAdmin:
    data_dir: Path
    passphrase_env: str = "GRIDSYNC_PASSPHRASE"

    def _run(self, *args: str) -> str:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH", "")]))
        if self.passphrase_env in os.environ:
            env["GRIDSYNC_PASSPHRASE"] = os.environ[self.passphrase_env]
        command = [sys.executable, "-m", "sync_server.cli", "--data-dir", str(self.data_dir), "admin", *args]
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
        if done.returncode != 0:
            raise AdminError(f"admin {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    def add_worker(
        self,
        worker_id: str,
        *,
        name: str,
        role: str,
        grids: list[str] | None = None,
        department: str | None = None,
        all_grids: bool = False,
    ) -> None:
        args = ["add-worker", worker_id, "--name", name, "--role", role, "--grids", ",".join(grids or [])]
        if department:
            args += ["--department", department]
        if all_grids:
            args.append("--all-grids")
        self._run(*args)

    def enroll_code(self, worker_id: str) -> tuple[str, str | None]:
        """(code, key fingerprint from the link)."""
        lines = [line.strip() for line in self._run("enroll-code", worker_id).splitlines() if line.strip()]
        code = lines[0]
        fingerprint = None
        for line in lines[1:]:
            if line.startswith("gridsync://") and "fp=" in line:
                fingerprint = line.split("fp=", 1)[1].split("&", 1)[0]
        return code, fingerprint
