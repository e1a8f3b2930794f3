"""Raw HTTP/1.1 on loopback sockets, for the tests that are about what a server does with a client
that is slow, silent, lying or gone: what httpx would never send. And a real `serve` process over a
fleet data directory (`tests.faults.processes.ServeProcess`), with the fleet's members enrolled."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import fleet
from shared.auth import new_nonce, sign_request
from tests.faults.processes import ServeProcess


@dataclass
class Served:
    server: ServeProcess
    members: list[fleet.Member]
    data_dir: Path

    @property
    def port(self) -> int:
        return self.server.port

    def log_lines(self) -> list[dict[str, Any]]:
        """The request log's JSON lines (other lines of the process's output skipped)."""
        out = []
        for line in self.server.log.read_text("utf-8", "replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out


@contextmanager
def served(work: Path, devices: int = 3, seed: int = 71, **config: Any) -> Iterator[Served]:
    city, members = fleet.fleet(devices, seed=seed, grid_count=16)
    data_dir = work / "server"
    fleet.build_server(data_dir, city, members, **config)
    server = ServeProcess(data_dir, work / "serve.log")
    server.start()
    try:
        yield Served(server, members, data_dir)
    finally:
        server.stop()


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def signed_headers(
    m: fleet.Member, method: str, path: str, body: bytes, *, now: int | None = None, length: int | None = None
) -> dict[str, str]:
    """Headers of a request signed by `m` over `body`; `length` may declare another Content-Length."""
    stamp = int(time.time()) if now is None else now
    headers = sign_request(m.signing, m.device_id, method, path, "", body, stamp, new_nonce())
    headers["Content-Type"] = "application/octet-stream"
    headers["Content-Length"] = str(len(body) if length is None else length)
    return headers


def forged_headers(device_id: str, length: int, *, now: int | None = None) -> dict[str, str]:
    """What a stranger can send: a plausible device id, a fresh timestamp, a signature of zeros."""
    return {
        "X-Gridsync-Device": device_id,
        "X-Gridsync-Timestamp": str(int(time.time()) if now is None else now),
        "X-Gridsync-Nonce": new_nonce(),
        "X-Gridsync-Signature": "A" * 86,
        "Content-Type": "application/octet-stream",
        "Content-Length": str(length),
    }


def read_response(sock: socket.socket, timeout: float) -> tuple[int, dict[str, str], bytes]:
    """One response (status, lower-cased headers, body); raises TimeoutError if none comes."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in data:
        if time.monotonic() > deadline:
            raise TimeoutError("no response")
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response: {data[:200]!r}")
        data += chunk
    top, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = top.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return int(status_line.split()[1]), headers, rest[:length]


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """True if the server closes (or resets) the connection within `within` seconds; any response
    bytes it sends first are read and dropped."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
        if not chunk:
            return True
    return False
