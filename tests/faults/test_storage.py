"""The server's disk fills up, or turns read-only: a clear refusal (`server.storage_full` 507 or
`server.unavailable` 503), nothing half-written, and recovery when space (or write access) returns.

Disk full is simulated honestly where possible: the data directory lives on a tiny tmpfs (mounting
needs root; CI runs as root here). Where mounting is impossible, the same refusal path is reached
through SQLite itself: `PRAGMA max_page_count` makes SQLite raise its real SQLITE_FULL ("database or
disk is full"), and `PRAGMA query_only` its real SQLITE_READONLY. Read-only is a remount of the
tmpfs (`mount -o remount,ro`), since root ignores file permissions.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench import fleet, harness, inventory
from shared import crypto
from shared.auth import new_nonce, sign_request
from shared.errors import CATALOGUE
from sync_server.store.sqlite import SqliteStore
from tests.faults.processes import ROOT, env

SEED = 91
REFUSALS = {"server.storage_full", "server.unavailable"}


def _mount(path: Path, options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    return done.returncode == 0


def _remount(path: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True, capture_output=True)


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    if os.geteuid() != 0 or not _mount(path, f"size={size},mode=0700"):
        pytest.skip("cannot mount a tmpfs here (needs root); the SQLite-level variant covers this path")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextmanager
def pragma_on_new_connections(monkeypatch: pytest.MonkeyPatch, pragma: str) -> Iterator[None]:
    """Every connection the store opens from now on runs `pragma` (a seam for the fallback)."""
    original = SqliteStore._db

    def patched(self: SqliteStore) -> sqlite3.Connection:
        fresh = getattr(self._local, "db", None) is None
        db = original(self)
        if fresh or not getattr(self._local, "pragma_done", False):
            db.execute(pragma)
            self._local.pragma_done = True
        return db

    monkeypatch.setattr(SqliteStore, "_db", patched)
    yield
    monkeypatch.setattr(SqliteStore, "_db", original)


class Phone:
    """A fleet writer pushing its segments over the in-process API; a refused segment is kept and
    resent byte for byte later, as a phone does."""

    def __init__(self, server: harness.Server, writer: fleet.Writer) -> None:
        self.server, self.writer = server, writer
        self.unsent: list[bytes] = []

    async def request(self, method: str, path: str, body: bytes = b"", query: str = "") -> httpx.Response:
        m = self.writer.member
        headers = sign_request(
            m.signing, m.device_id, method, path, query, body, self.server.clock(), new_nonce()
        )
        async with httpx.AsyncClient(
            transport=self.server.transport(), base_url=harness.SERVER_URL
        ) as client:
            url = f"{path}?{query}" if query else path
            return await client.request(method, url, content=body, headers=headers)

    def push(self, blob: bytes) -> httpx.Response:
        return asyncio.run(self.request("POST", "/v1/segments", blob))

    def push_next(self, ops: int = 50) -> httpx.Response:
        blob = self.writer.seal(self.writer.ops(ops))
        response = self.push(blob)
        if response.status_code != 200:
            self.unsent.append(blob)
        return response

    def resend(self) -> None:
        while self.unsent:
            response = self.push(self.unsent[0])
            assert response.status_code == 200, response.text
            assert response.json()["status"] in ("applied", "resent")
            self.unsent.pop(0)


def _refusal(response: httpx.Response) -> str:
    assert response.status_code != 500, f"an internal error instead of a clear refusal: {response.text[:300]}"
    code: str = response.json()["error"]["code"]
    assert CATALOGUE[code].status == response.status_code
    assert code in REFUSALS, code
    return code


def _world(data_dir: Path) -> tuple[harness.Server, Phone]:
    city, members = fleet.fleet(1, seed=SEED, grid_count=8)
    keys = fleet.build_server(data_dir, city, members)
    server = harness.Server(data_dir)
    return server, Phone(server, fleet.Writer(members[0], crypto.public_raw(keys.encryption), seed=SEED))


def _assert_whole(data_dir: Path, phone: Phone) -> None:
    """Every op the server holds came with its whole segment: the device's position, its outcomes
    and its applied segments agree, and the store holds no op twice."""
    db = inventory.connect(data_dir)
    try:
        last = db.execute(
            "SELECT last_seq FROM devices WHERE device_id = ?", (phone.writer.member.device_id,)
        ).fetchone()[0]
    finally:
        db.close()
    assert inventory.problems(data_dir, {phone.writer.member.device_id: last}) == []
    assert last % 50 == 0  # whole segments of 50 ops, never a part of one


def _fill_until_refused(phone: Phone, limit: int = 400) -> str:
    for _ in range(limit):
        response = phone.push_next()
        if response.status_code != 200:
            return _refusal(response)
    raise AssertionError("the disk never filled up")


# --- disk full -----------------------------------------------------------------------------------


def test_disk_full_on_a_tiny_tmpfs_refuses_clearly_and_recovers(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "1536k") as disk:
        server, phone = _world(disk / "server")
        try:
            code = _fill_until_refused(phone)
            assert code == "server.storage_full"
            _assert_whole(disk / "server", phone)
            # Uploading a photo onto the full disk is refused the same way, and leaves no partial file.
            blob = random.Random(1).randbytes(300_000)
            sha = hashlib.sha256(blob).hexdigest()
            _refusal(
                asyncio.run(phone.request("PUT", f"/v1/photos/{sha}", blob, f"offset=0&size={len(blob)}"))
            )
            assert server.services.store.photo(sha) is None or not server.services.store.photo(sha).complete
            _remount(disk, "size=64m")  # space returns
            phone.resend()
            assert phone.push_next().status_code == 200
            _assert_whole(disk / "server", phone)
        finally:
            server.close()


def test_database_full_inside_sqlite_refuses_clearly_and_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, phone = _world(tmp_path / "server")
    try:
        for _ in range(3):
            assert phone.push_next().status_code == 200
        db = inventory.connect(tmp_path / "server")
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.close()
        server.close()
        with pragma_on_new_connections(monkeypatch, f"PRAGMA max_page_count = {pages + 40}"):
            server = harness.Server(tmp_path / "server")
            phone.server = server
            assert _fill_until_refused(phone) == "server.storage_full"
            _assert_whole(tmp_path / "server", phone)
            server.close()
        server = harness.Server(tmp_path / "server")  # the limit is lifted: space returns
        phone.server = server
        phone.resend()
        assert phone.push_next().status_code == 200
        _assert_whole(tmp_path / "server", phone)
    finally:
        server.close()


# --- read-only --------------------------------------------------------------------------------------


def _push_while_read_only(phone: Phone) -> None:
    before = inventory.digest(phone.server.data_dir)
    for _ in range(3):
        _refusal(phone.push_next())
    health = asyncio.run(phone.request("GET", "/health"))
    assert health.status_code == 200  # still serving what it can
    assert inventory.digest(phone.server.data_dir) == before


def test_serving_from_a_read_only_data_dir_is_a_clear_error_and_recovers(tmp_path: Path) -> None:
    """A disk that went read-only while the server was down. (Linux refuses to remount a filesystem
    read-only while the server holds its database open for writing, so the running case is the
    SQLite-level test below.)"""
    with tmpfs(tmp_path / "disk", "64m") as disk:
        server, phone = _world(disk / "server")
        assert phone.push_next().status_code == 200
        server.close()
        _remount(disk, "ro")
        refused = subprocess.run(
            [sys.executable, "-m", "sync_server.cli", "--data-dir", str(disk / "server"), "serve", "--port", "1"],
            env=env(), cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        _remount(disk, "rw")
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr[-1500:]
        assert "read-only" in refused.stderr or "readonly" in refused.stderr or "cannot" in refused.stderr
        server = harness.Server(disk / "server")
        phone.server = server
        try:
            assert phone.push_next().status_code == 200
            _assert_whole(disk / "server", phone)
        finally:
            server.close()


def test_read_only_database_inside_sqlite_refuses_clearly_and_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, phone = _world(tmp_path / "server")
    try:
        assert phone.push_next().status_code == 200
        server.close()
        with pragma_on_new_connections(monkeypatch, "PRAGMA query_only = ON"):
            server = harness.Server.__new__(harness.Server)
            server.data_dir, server.clock = tmp_path / "server", harness.Clock()
            _open(server)
            phone.server = server
            _push_while_read_only(phone)
            server.close()
        server = harness.Server(tmp_path / "server")
        phone.server = server
        phone.resend()
        assert phone.push_next().status_code == 200
        _assert_whole(tmp_path / "server", phone)
    finally:
        server.close()


def _open(server: Any) -> None:
    """Open services whose store connections are already read-only (migrations need none)."""
    from sync_server.api.app import build_app
    from sync_server.config import load_config
    from sync_server.services import open_services

    server.services = open_services(load_config(server.data_dir), fleet.PASSPHRASE, server.clock)
    server.app = build_app(server.services)
