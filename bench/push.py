"""3. Online push: simulated devices pushing 100-op segments concurrently to `gridsync-server serve`.

The server is the real CLI process (`serve`, uvicorn with one worker or `--workers 2`) on
127.0.0.1; the devices are fleet writers driven by one `httpx.AsyncClient` in this process, each
request signed as a phone signs it. Note the client shares the machine's two cores with the server.
With two workers, two processes verify, decrypt and validate at once; their transactions still
queue on SQLite's one writer.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

import httpx

from bench import fleet
from bench.measure import percentile, workdir
from shared import crypto
from shared.auth import new_nonce, sign_request

OPS = 100


def _port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _device(
    client: httpx.AsyncClient, m: fleet.Member, blobs: list[bytes], latencies: list[float]
) -> None:
    for blob in blobs:
        headers = sign_request(m.signing, m.device_id, "POST", "/v1/segments", "", blob, int(time.time()),
                               new_nonce())  # fmt: skip
        headers["Content-Type"] = "application/octet-stream"
        start = time.perf_counter()
        response = await client.post("/v1/segments", content=blob, headers=headers)
        latencies.append(time.perf_counter() - start)
        if response.status_code != 200 or response.json()["status"] != "applied":
            raise RuntimeError(f"push refused: {response.status_code} {response.text[:300]}")


async def _push(
    url: str, members: list[fleet.Member], streams: dict[str, list[bytes]]
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=len(members), max_keepalive_connections=len(members))
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(*(_device(client, m, streams[m.device_id], latencies) for m in members))
        return time.perf_counter() - start, latencies


def push(devices: int = 200, segments_each: int = 2, workers: int = 1) -> dict[str, Any]:
    with workdir("push") as work:
        city, members = fleet.fleet(devices, seed=11)
        keys = fleet.build_server(work / "server", city, members)
        public = crypto.public_raw(keys.encryption)
        streams = {
            m.device_id: fleet.Writer(m, public, seed=11).segments(OPS * segments_each, OPS) for m in members
        }
        port = _port()
        env = {**os.environ, "GRIDSYNC_PASSPHRASE": fleet.PASSPHRASE}
        server = subprocess.Popen(
            [sys.executable, "-m", "sync_server.cli", "--data-dir", str(work / "server"), "serve", "--host",
             "127.0.0.1", "--port", str(port), "--workers", str(workers)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    if httpx.get(f"{url}/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.05)
            seconds, latencies = asyncio.run(_push(url, members, streams))
        finally:
            server.terminate()
            server.wait(timeout=30)
    total = devices * segments_each
    return {
        "devices": devices,
        "workers": workers,
        "segments": total,
        "ops": total * OPS,
        "seconds": seconds,
        "segments_per_s": total / seconds,
        "ops_per_s": total * OPS / seconds,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }
