"""File modes: the data directory holds every per-photo key (in `gridsync.db`), the server's keys and
the photos. Under the usual umask 022 everything the server makes is still its own: the data
directory and every folder in it 0700, every file 0600; `serve` warns about a wider mode it finds.

Real processes, each started with umask 022: `init`, `admin` commands, `serve` taking a phone's
segment (queue mode: spooled) and photo, `ingest`, `backup`, `rotate-keys`.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.server.device import TestDevice, hex32

REPO = Path(__file__).resolve().parents[2]
PASSPHRASE = "pw"


class Clock:
    @property
    def now(self) -> int:
        return int(time.time())


def _umask_022() -> None:
    os.umask(0o022)


def _env(data_dir: Path) -> dict[str, str]:
    return {**os.environ, "GRIDSYNC_DATA_DIR": str(data_dir), "GRIDSYNC_PASSPHRASE": PASSPHRASE,
            "PYTHONPATH": str(REPO)}  # fmt: skip


def _cli(data_dir: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "sync_server.cli", *args], env=_env(data_dir), capture_output=True, text=True,
        timeout=120, cwd=REPO, preexec_fn=_umask_022,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def _serve(data_dir: Path, log: Path) -> tuple[str, subprocess.Popen[bytes]]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sync_server.cli", "serve", "--port", str(port)], env=_env(data_dir),
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_umask_022,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return url, proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"serve did not come up: {log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def _modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def test_under_umask_022_every_folder_is_0700_and_every_file_0600(tmp_path: Path) -> None:
    data = tmp_path / "d"
    _cli(data, "init", "--demo", "--apply-mode", "queue")
    _cli(data, "admin", "add-worker", "zhang.wei", "--name", "张伟", "--role", "worker", "--grids",
         "441502001001001")  # fmt: skip
    code = _cli(data, "admin", "enroll-code", "zhang.wei").splitlines()[0]
    url, proc = _serve(data, tmp_path / "serve.log")
    try:
        with httpx.Client(base_url=url) as client:
            phone = TestDevice(client, Clock())
            phone.enroll(code)
            blob = os.urandom(5000)
            sha = hashlib.sha256(blob).hexdigest()
            path, query = f"/v1/photos/{sha}", f"offset=0&size={len(blob)}"
            uploaded = client.put(
                f"{path}?{query}", content=blob, headers=phone.headers("PUT", path, query, blob)
            )
            assert uploaded.json()["complete"], uploaded.text
            case_id = hex32()
            assert (
                phone.push_ops([phone.create(case_id), phone.photo(case_id, "before", sha)])["status"]
                == "queued"
            )
    finally:
        _stop(proc)
    assert list((data / "spool").glob("*.seg"))
    _cli(data, "ingest", str(data / "spool"), "--quiet")
    (data / "backups").mkdir(mode=0o700)  # the operator's own folder
    _cli(data, "admin", "backup", str(data / "backups" / "copy.db"))
    _cli(data, "admin", "rotate-keys")
    modes = _modes(data)
    for name in ("gridsync.db", "config.json", "keys/keys.json", "keys/signing.pem", "backups/copy.db",
                 f"photos/{sha[:2]}/{sha}", "spool/done"):  # fmt: skip
        assert name in modes, sorted(modes)
    assert any(name.startswith("keys/encryption-retired-") for name in modes)
    wide = {name: oct(mode) for name, mode in modes.items() if mode & 0o077}
    assert wide == {}, f"readable by other users: {wide}"
    assert modes["."] == 0o700


def test_init_makes_an_existing_data_folder_private(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    _cli(data, "init")
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


def test_serve_warns_about_a_data_folder_or_file_others_can_read(tmp_path: Path) -> None:
    data = tmp_path / "d"
    _cli(data, "init", "--demo")
    os.chmod(data, 0o755)
    os.chmod(data / "gridsync.db", 0o644)
    log = tmp_path / "serve.log"
    _, proc = _serve(data, log)
    _stop(proc)
    text = log.read_text()
    assert f"{data} is 0755" in text and f"{data / 'gridsync.db'} is 0644" in text, text
    assert "chmod" in text
    assert "keys.json" not in text  # only what is too open is named


def test_a_store_opened_outside_the_cli_makes_its_database_wal_and_shm_0600(tmp_path: Path) -> None:
    from sync_server.store import open_store

    previous = os.umask(0o022)
    try:
        store = open_store(tmp_path)
        try:
            with store.transaction() as tx:
                tx.put_catalogue_doc("calendar", {"utc_offset_minutes": 480})
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
        finally:
            store.close()
    finally:
        os.umask(previous)
    assert modes == {"gridsync.db": 0o600, "gridsync.db-wal": 0o600, "gridsync.db-shm": 0o600}
