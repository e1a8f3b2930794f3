"""4. Open loop: segments arrive as a Poisson process, as a city's phones sync, not as one burst.

A 10,000-worker city at its morning peak, each worker syncing every 5 minutes, sends about 33
segments a second, each of 5–20 ops. A separate process (`python -m bench.openloop drive`) sends
pre-sealed segments, each from a device of its own, at exponentially distributed intervals to one
`gridsync-server serve` process on SQLite (or `--workers 2`); it never waits for an answer before
the next arrival (open loop), and a latency runs from the arrival's scheduled time to its answer,
so a late driver counts against the server, never for it.

Rates are stepped up a ladder, each for a fixed time; the highest rate whose p99 stays ≤ 1 s is
reported, for 1 and 2 processes. Every answer must be `applied`, or the point is failed.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench import fleet, serving
from bench.measure import percentile, workdir
from shared import crypto
from shared.auth import new_nonce, sign_request

FULL = os.environ.get("BENCH_FULL") == "1"
PEAK = 10_000 / 300  # segments per second: 10,000 workers, one round every 5 minutes
LADDER = (PEAK, 50.0, 75.0, 100.0, 150.0, 200.0, 300.0)
SECONDS = 20.0 if FULL else 6.0


async def _drive(spec: dict[str, Any]) -> dict[str, Any]:
    rng = random.Random(spec["seed"])
    rate = spec["rate"]
    arrivals = [
        (bytes.fromhex(s), d, crypto.signing_key_from_raw(bytes.fromhex(k))) for s, d, k in spec["items"]
    ]
    latencies: list[float] = []
    failures: list[str] = []
    lag = 0.0
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=2000)

    async def send(client: httpx.AsyncClient, due: float, blob: bytes, device_id: str, key: Any) -> None:
        headers = sign_request(
            key, device_id, "POST", "/v1/segments", "", blob, int(time.time()), new_nonce()
        )
        headers["content-type"] = "application/octet-stream"
        try:
            response = await client.post("/v1/segments", content=blob, headers=headers)
            ok = response.status_code == 200 and response.json().get("status") == "applied"
            if not ok:
                failures.append(f"{response.status_code} {response.text[:200]}")
        except httpx.HTTPError as exc:
            failures.append(repr(exc))
        latencies.append(time.perf_counter() - due)

    async with httpx.AsyncClient(base_url=spec["url"], timeout=60, limits=limits) as client:
        tasks = []
        start = time.perf_counter()
        due = start
        for blob, device_id, key in arrivals:
            due += rng.expovariate(rate)
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            else:
                lag = max(lag, -wait)
            tasks.append(asyncio.create_task(send(client, due, blob, device_id, key)))
        await asyncio.gather(*tasks)
        offered_s = due - start
    return {"latencies": latencies, "failures": failures, "offered_s": offered_s, "driver_lag_max_s": lag}


def _point(url: str, rate: float, items: list[tuple[str, str, str]], seed: int, work: Path) -> dict[str, Any]:
    spec_path = work / f"spec-{rate:.0f}.json"
    spec_path.write_text(json.dumps({"url": url, "rate": rate, "items": items, "seed": seed}))
    out = subprocess.run(
        [sys.executable, "-m", "bench.openloop", "drive", str(spec_path)],
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    got = json.loads(out.stdout)
    lat = got["latencies"]
    return {
        "rate": rate,
        "segments": len(lat),
        "offered_per_s": len(lat) / got["offered_s"],
        "p50_ms": percentile(lat, 50) * 1000,
        "p99_ms": percentile(lat, 99) * 1000,
        "max_ms": max(lat) * 1000,
        "failures": len(got["failures"]),
        "first_failure": got["failures"][0] if got["failures"] else None,
        "driver_lag_max_ms": got["driver_lag_max_s"] * 1000,
    }


def _ladder(
    pristine: Path, work: Path, members: list[fleet.Member], public: bytes, workers: int
) -> dict[str, Any]:
    data = work / f"server-{workers}"
    shutil.copytree(pristine, data)
    writers = [fleet.Writer(m, public, seed=23) for m in members]
    rng = random.Random(workers)
    points = []
    with serving.serve(data, workers) as (url, _):
        for step, rate in enumerate(LADDER):
            count = int(rate * SECONDS)
            items = []
            for w in writers[:count]:
                blob = w.seal(w.ops(rng.randint(5, 20)), created_at=int(time.time()))
                items.append((blob.hex(), w.member.device_id, w.member.signing_raw.hex()))
            point = _point(url, rate, items, seed=step, work=work)
            points.append(point)
            if point["failures"] or point["p99_ms"] > 1000:
                break
    within = [p["rate"] for p in points if not p["failures"] and p["p99_ms"] <= 1000]
    return {"workers": workers, "points": points, "max_rate_p99_within_1s": max(within) if within else 0.0,
            "ladder_ended": len(points) == len(LADDER) and bool(within) and within[-1] == LADDER[-1]}  # fmt: skip


def openloop() -> dict[str, Any]:
    with workdir("openloop") as work:
        devices = int(max(LADDER) * SECONDS)
        city, members = fleet.fleet(devices, seed=23)
        pristine = work / "pristine"
        keys = fleet.build_server(pristine, city, members, **serving.NO_ADDRESS_LIMITS)
        public = crypto.public_raw(keys.encryption)
        runs = [_ladder(pristine, work, members, public, workers) for workers in (1, 2)]
    return {"seconds_per_point": SECONDS, "peak_rate": PEAK, "runs": runs}


if __name__ == "__main__":
    if sys.argv[1:2] == ["drive"]:
        print(json.dumps(asyncio.run(_drive(json.loads(Path(sys.argv[2]).read_text())))))
    else:
        print(json.dumps(openloop(), indent=2))
