"""8. Open loop: segments arrive as a Poisson process, as a city's phones sync, not as one burst.

A 10,000-worker city at its morning peak, each worker syncing every 5 minutes, sends about 33
segments a second, each of 5–20 ops. A separate process (`python -m bench.openloop drive`) sends
pre-sealed segments, each from a device of its own, at exponentially distributed intervals to one
`gridsync-server serve` process on SQLite (or `--workers 2`); it never waits for an answer before
the next arrival (open loop), and a latency runs from the arrival's scheduled time to its answer,
so a late driver counts against the server, never for it.

Rates are stepped up a ladder, each for a fixed time; the highest rate whose p99 stays ≤ 1 s is
reported, for 1 and 2 processes. Every answer must be `applied`, or the point is failed.

Baseline, same run: the same arrivals — the same Poisson seeds, the same devices, the same op
documents in each arrival — POSTed as plain JSON by the same driver to `bench.baseline_server` (a
FastAPI endpoint appending them to SQLite, or to PostgreSQL for the PostgreSQL rows) under uvicorn
with as many processes, up the same ladder; the two take turns rung by rung, so both meet the same
load of a shared machine. The baseline signs, encrypts, checks and audits nothing: it is the floor
of "a segment's ops over HTTP into the database". Its highest rate is often the ladder's top (then
the ratio of highest rates is a bound, "≤").
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
SEED = 23
WITHIN_MS = 1000.0


class Arrivals:
    """The ladder's arrivals, rung by rung: at rate r, the first r × SECONDS devices each send their
    next segment of 5–20 ops. Made afresh from the same seeds for every server of the run, so each
    gets the same documents in the same arrivals."""

    def __init__(self, members: list[fleet.Member], public: bytes) -> None:
        self.writers = [fleet.Writer(m, public, seed=SEED) for m in members]
        self.sizes = random.Random(SEED)

    def rung(self, rate: float) -> list[tuple[fleet.Writer, list[dict[str, Any]]]]:
        return [(w, w.ops(self.sizes.randint(5, 20))) for w in self.writers[: int(rate * SECONDS)]]


async def _drive(spec: dict[str, Any]) -> dict[str, Any]:
    rng = random.Random(spec["seed"])
    rate = spec["rate"]
    plain = spec["kind"] == "plain"
    arrivals: list[tuple[bytes, str, Any]] = (
        [(body.encode(), "", None) for body in spec["items"]]
        if plain
        else [
            (bytes.fromhex(s), d, crypto.signing_key_from_raw(bytes.fromhex(k))) for s, d, k in spec["items"]
        ]
    )
    latencies: list[float] = []
    failures: list[str] = []
    lag = 0.0
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=2000)

    async def send(client: httpx.AsyncClient, due: float, body: bytes, device_id: str, key: Any) -> None:
        try:
            if plain:
                response = await client.post(
                    "/ops", content=body, headers={"content-type": "application/json"}
                )
                ok = response.status_code == 200
            else:
                headers = sign_request(
                    key, device_id, "POST", "/v1/segments", "", body, int(time.time()), new_nonce()
                )
                headers["content-type"] = "application/octet-stream"
                response = await client.post("/v1/segments", content=body, headers=headers)
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
        for body, device_id, key in arrivals:
            due += rng.expovariate(rate)
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            else:
                lag = max(lag, -wait)
            tasks.append(asyncio.create_task(send(client, due, body, device_id, key)))
        await asyncio.gather(*tasks)
        offered_s = due - start
    return {"latencies": latencies, "failures": failures, "offered_s": offered_s, "driver_lag_max_s": lag}


def _point(url: str, rate: float, kind: str, items: list[Any], seed: int, spec_path: Path) -> dict[str, Any]:
    spec_path.write_text(json.dumps({"url": url, "rate": rate, "kind": kind, "items": items, "seed": seed}))
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


class Ladder:
    """One server's climb up the ladder: rung by rung until a rung fails or its p99 passes 1 s.
    `kind`: "segments" (sealed and signed, to `POST /v1/segments`) or "plain" (the same ops as
    JSON, to the baseline's `POST /ops`)."""

    def __init__(self, url: str, kind: str, arrivals: Arrivals, work: Path) -> None:
        self.url, self.kind, self.arrivals, self.work = url, kind, arrivals, work
        self.points: list[dict[str, Any]] = []
        self.stopped = False

    def climb(self, step: int, rate: float) -> None:
        rung = self.arrivals.rung(rate)
        if self.kind == "plain":
            items: list[Any] = [json.dumps(ops, ensure_ascii=False, separators=(",", ":")) for _, ops in rung]
        else:
            items = [(w.seal(ops, created_at=int(time.time())).hex(), w.member.device_id,
                      w.member.signing_raw.hex()) for w, ops in rung]  # fmt: skip
        spec = self.work / f"spec-{self.kind}-{rate:.0f}.json"
        point = _point(self.url, rate, self.kind, items, seed=step, spec_path=spec)
        self.points.append(point)
        self.stopped = bool(point["failures"]) or point["p99_ms"] > WITHIN_MS

    def result(self) -> dict[str, Any]:
        within = [p["rate"] for p in self.points if not p["failures"] and p["p99_ms"] <= WITHIN_MS]
        return {"points": self.points, "max_rate_p99_within_1s": max(within) if within else 0.0,
                "ladder_ended": len(self.points) == len(LADDER) and bool(within) and within[-1] == LADDER[-1]}  # fmt: skip


def prepare(work: Path) -> tuple[Path, list[fleet.Member], bytes]:
    """A pristine server data directory (SQLite) with the whole ladder's devices enrolled; its
    devices and the server's public key the segments are sealed to."""
    city, members = fleet.fleet(int(max(LADDER) * SECONDS), seed=SEED)
    pristine = work / "pristine"
    keys = fleet.build_server(pristine, city, members, **serving.NO_ADDRESS_LIMITS)
    return pristine, members, crypto.public_raw(keys.encryption)


def compare(
    data_dir: Path,
    baseline_db: Path | str,
    workers: int,
    members: list[fleet.Member],
    public: bytes,
    work: Path,
) -> dict[str, Any]:
    """The ladder against `serve --workers N` over `data_dir` (its store: SQLite, or the database its
    config names) and the same arrivals against the plain baseline with as many processes over
    `baseline_db` (a SQLite file, or a PostgreSQL URL). The two take turns rung by rung (which goes
    first alternates), so both meet the same load of a shared machine; both servers are up all the
    while, the one not being driven idle."""
    with (
        serving.serve(data_dir, workers) as (url, _),
        serving.baseline(baseline_db, workers) as (base_url, _),
    ):
        ours = Ladder(url, "segments", Arrivals(members, public), work)
        theirs = Ladder(base_url, "plain", Arrivals(members, public), work)
        for step, rate in enumerate(LADDER):
            for climber in (ours, theirs) if step % 2 == 0 else (theirs, ours):
                if not climber.stopped:
                    climber.climb(step, rate)
            if ours.stopped and theirs.stopped:
                break
    run, base = ours.result(), theirs.result()
    first, base_first = run["points"][0], base["points"][0]
    return {
        "workers": workers,
        **run,
        "baseline": base,
        "p99_ratio_at_peak": first["p99_ms"] / base_first["p99_ms"],
        "max_rate_ratio": (
            run["max_rate_p99_within_1s"] / base["max_rate_p99_within_1s"]
            if base["max_rate_p99_within_1s"]
            else None
        ),
    }


def openloop() -> dict[str, Any]:
    with workdir("openloop") as work:
        pristine, members, public = prepare(work)
        runs = []
        for workers in (1, 2):
            data = work / f"server-{workers}"
            shutil.copytree(pristine, data)
            runs.append(compare(data, work / f"baseline-{workers}.db", workers, members, public, work))
    return {"seconds_per_point": SECONDS, "peak_rate": PEAK, "runs": runs}


# --- the bench table's rows ------------------------------------------------------------------------


def _latency(p: dict[str, Any]) -> str:
    text = f"p50 {p['p50_ms']:,.0f} ms, p99 {p['p99_ms']:,.0f} ms"
    if p["failures"]:
        text += f", {p['failures']} failed"
    if p["driver_lag_max_ms"] > 100:  # the driver itself fell behind: counted against the server
        text += f" (driver late ≤ {p['driver_lag_max_ms']:,.0f} ms)"
    return text


def _max_rate(run: dict[str, Any]) -> str:
    rate = run["max_rate_p99_within_1s"]
    return f"≥ {rate:.0f} seg/s (top of the ladder)" if run["ladder_ended"] else f"{rate:.0f} seg/s"


def _rate_ratio(run: dict[str, Any]) -> str:
    ratio, ours, theirs = run["max_rate_ratio"], run["ladder_ended"], run["baseline"]["ladder_ended"]
    if ratio is None:
        return "— (the baseline: no rate within 1 s)"
    if ours and theirs:
        return "— (both reached the top of the ladder)"
    return f"{'≤ ' if theirs else '≥ ' if ours else ''}{ratio:.2f}"


def rows(results: dict[str, Any] | None, figure: str = "8.", base: str = "SQLite") -> list[tuple[str, ...]]:
    """Rows (figure, size, measured, baseline, ratio, target) for the bench table; `base`: where
    the baseline appends ("SQLite", "PostgreSQL")."""
    if not results:
        return []
    found: list[tuple[str, ...]] = []
    plain = f"plain JSON POST → {base}"
    for run in results["runs"]:
        procs = f"{run['workers']} process{'es' if run['workers'] > 1 else ''}"
        by_rate = {p["rate"]: p for p in run["baseline"]["points"]}
        for p in run["points"]:
            b = by_rate.get(p["rate"])
            target = "p99 ≤ 250 ms at 33/s" if p["rate"] < 34 else ""
            found.append((f"{figure} open-loop push (Poisson)",
                          f"{p['rate']:.0f} seg/s × {results['seconds_per_point']:.0f} s, {procs}", _latency(p),
                          f"{_latency(b)} {plain}" if b else "not run: the baseline's ladder stopped below",
                          f"{p['p99_ms'] / b['p99_ms']:.1f} (p99)" if b else "—", target))  # fmt: skip
        higher = [b for b in run["baseline"]["points"] if b["rate"] > run["points"][-1]["rate"]]
        if higher:
            found.append((f"{figure} the baseline's higher rungs",
                          " / ".join(f"{b['rate']:.0f}" for b in higher) + f" seg/s, {procs}",
                          f"not run: over 1 s (or failed) at {run['points'][-1]['rate']:.0f} seg/s",
                          "p99 " + " / ".join(f"{b['p99_ms']:,.0f}" for b in higher) + f" ms {plain}"
                          + (f", {sum(b['failures'] for b in higher)} failed" if any(b["failures"] for b in higher)
                             else ""),
                          "—", ""))  # fmt: skip
        found.append((f"{figure} highest rate with p99 ≤ 1 s", procs, _max_rate(run),
                      f"{_max_rate(run['baseline'])} {plain}", _rate_ratio(run), "reported"))  # fmt: skip
    return found


if __name__ == "__main__":
    if sys.argv[1:2] == ["drive"]:
        print(json.dumps(asyncio.run(_drive(json.loads(Path(sys.argv[2]).read_text())))))
    else:
        print(json.dumps(openloop(), indent=2))
