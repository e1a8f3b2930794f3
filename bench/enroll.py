"""Enrollment figure: the server's CPU per enrolled phone, against encoding the answer once.

gridsync: `phones` phones enroll one after another over HTTP (httpx, real keys, each its own
one-time code) in one `gridsync-server serve` process on 127.0.0.1, over a bench city of
`grids` unit grids; the answer carries the city's catalogue (every grid's polygon). Timed: the
serve process's CPU across the enrollments (/proc), divided by the phones.

Baseline, same run: the CPU of one plain `json.dumps` of the same answer (the last one, parsed
back into a dict) in this process — what a server that encodes the answer per phone spends on
that alone, before any request handling or store work. Below 1, the city is not re-encoded per
phone; the route before 891c7c1 (FastAPI's `jsonable_encoder` and `json.dumps` per phone, on the
event loop) was 7-11x it.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from bench import fleet, serving
from bench.measure import workdir
from shared import crypto
from sync_server.enrollment import create_code
from sync_server.store import open_store


def _bodies(data: Path, members: list[fleet.Member]) -> list[dict[str, str]]:
    store = open_store(data)
    try:
        with store.transaction() as tx:
            for m in members:
                tx.save_worker(m.worker_record())
        codes = [create_code(store, m.worker_id, int(time.time()), 3600) for m in members]
    finally:
        store.close()
    return [
        {
            "code": code,
            "signing_key": crypto.b64e(crypto.public_raw(crypto.new_signing_key())),
            "encryption_key": crypto.b64e(crypto.public_raw(crypto.new_encryption_key())),
            "device_name": f"bench phone {i}",
        }
        for i, code in enumerate(codes)
    ]


def _json_dumps_cpu(answer: bytes, rounds: int = 5) -> float:
    """Median CPU seconds of `json.dumps` of the answer as a dict (FastAPI's arguments)."""
    value = json.loads(answer)
    spent = []
    for _ in range(rounds):
        cpu = time.process_time()
        json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        spent.append(time.process_time() - cpu)
    return statistics.median(spent)


def enroll(phones: int = 30, grids: int = 4509) -> dict[str, Any]:
    with workdir("enroll") as work:
        city, members = fleet.fleet(phones, seed=23, grid_count=grids)
        data = work / "server"
        fleet.build_server(data, city, [], **serving.NO_ADDRESS_LIMITS)
        bodies = _bodies(data, members)
        with serving.serve(data) as (url, proc), httpx.Client(base_url=url, timeout=120) as http:
            server_cpu, wall = serving.cpu_seconds(proc.pid), time.perf_counter()
            answer = b""
            for body in bodies:
                response = http.post("/v1/enroll", json=body)
                response.raise_for_status()
                answer = response.content
            wall = time.perf_counter() - wall
            server_cpu = serving.cpu_seconds(proc.pid) - server_cpu
    baseline = _json_dumps_cpu(answer)
    per_phone = server_cpu / phones
    return {
        "phones": phones,
        "grids": grids,
        "answer_bytes": len(answer),
        "server_cpu_ms_per_enrollment": per_phone * 1e3,
        "wall_ms_per_enrollment": wall / phones * 1e3,
        "baseline_json_dumps_ms": baseline * 1e3,
        "cpu_ratio": per_phone / baseline,
    }


if __name__ == "__main__":
    print(json.dumps(enroll(), indent=1))
