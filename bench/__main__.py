"""`python -m bench` (`make bench`): every figure beside its same-run baseline; writes results.json.

Sizes: the night's backlog runs at 100k and 300k ops by default; `BENCH_FULL=1` adds the 1M-op night.
`python -m bench reconcile phone` runs only the named parts; `postgres` needs PostgreSQL at
127.0.0.1:5432 (or GRIDSYNC_BENCH_PG) and makes and drops a database of its own. `peer` measures
issue 13's peer (PouchDB 9 → express-pouchdb on LevelDB; needs node and npm, `bench/pouchpeer.py`):
the client and catch-up goals are judged against it when it ran, else against the issue's figures
(`bench/peer.py`). `python -m bench peer client catchup` gives every figure those goals need.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import backlog, catchup, client, enroll, openloop, peer, phone, postgres, push, throughput
from bench.measure import HERE, machine

FULL = os.environ.get("BENCH_FULL") == "1"


def _reconcile() -> dict[str, Any]:
    return {
        "sizes": [throughput.reconcile(n) for n in (20_000, 100_000)],
        "floor": throughput.floor(20_000),
        "profile": throughput.profile(20_000),
    }


def _backlog() -> dict[str, Any]:
    sizes = [100_000, 300_000, *([1_000_000] if FULL else [])]
    return {"full": FULL, "sizes": [backlog.ingest(n, 2000) for n in sizes]}


def _push() -> dict[str, Any]:
    return {"sizes": [push.push(50, 2), push.push(200, 2), push.push(200, 2, workers=2)]}


def _catchup() -> dict[str, Any]:
    return {"sizes": [catchup.catchup(n) for n in (10_000, 50_000)]}


def _client() -> dict[str, Any]:
    sizes = [(50, 200), *([(200, 100)] if FULL else [])]
    return {"sizes": [client.client(d, o, push_alone=alone) for d, o in sizes for alone in (False, True)]}


def _openloop() -> dict[str, Any]:
    return openloop.openloop()


def _phone() -> dict[str, Any]:
    return {"reports": phone.reports((100, 5000)), "photos": phone.photo(7)}


PARTS: dict[str, Callable[[], dict[str, Any]]] = {
    "reconcile": _reconcile,
    "backlog": _backlog,
    "push": _push,
    "peer": lambda: peer.measure(FULL),
    "catchup": _catchup,
    "client": _client,
    "openloop": _openloop,
    "phone": _phone,
    "enroll": lambda: enroll.enroll(),
    "postgres": lambda: postgres.postgres(FULL),
}


def _table(results: dict[str, Any]) -> Table:
    table = Table(title="gridsync bench — ratios against a baseline measured in the same run")
    for name in ("figure", "size", "measured", "baseline (same run)", "ratio", "target"):
        table.add_column(name, justify="left" if name in ("figure", "size") else "right")
    r = results.get("reconcile")
    if r:
        for s in r["sizes"]:
            table.add_row("1. reconcile throughput", f"{s['ops']:,} ops / {s['devices']} devices",
                          f"{s['ops_per_s']:,.0f} ops/s", f"{s['baseline_ops_per_s']:,.0f} ops/s plain SQLite",
                          f"{s['ratio']:.3f}", "≥ 0.35")  # fmt: skip
        f = r["floor"]
        table.add_row("1. the same, no storage at all", f"{f['ops']:,} ops (open, validate, rules)",
                      f"{f['ops_per_s']:,.0f} ops/s ({f['open_validate_us_per_op']:.1f} + "
                      f"{f['rules_us_per_op']:.1f} µs/op)", f"{f['baseline_ops_per_s']:,.0f} ops/s plain SQLite",
                      f"{f['ratio']:.3f} (×2 cores: {f['ratio_on_two_cores']:.2f})", "bound for 1")  # fmt: skip
    b = results.get("backlog")
    if b:
        for s in b["sizes"]:
            table.add_row("2. night's backlog (ingest)", f"{s['ops']:,} ops / {s['devices']:,} devices",
                          f"{s['seconds']:.1f} s, peak {s['peak_rss_mb']:.0f} MB",
                          f"{s['baseline_seconds']:.2f} s plain SQLite", f"{s['ratio']:.3f}",
                          "1M in ~60 s")  # fmt: skip
        if not b["full"]:
            table.add_row("", "1M ops: set BENCH_FULL=1", "", "", "", "")
    p = results.get("push")
    if p:
        for s in p["sizes"]:
            table.add_row("3. online push", f"{s['devices']} devices × {s['segments'] // s['devices']} × 100 ops, "
                          f"{s['workers']} worker{'s' if s['workers'] > 1 else ''}",
                          f"{s['segments_per_s']:.0f} seg/s, p50 {s['p50_ms']:.0f} ms, p99 {s['p99_ms']:.0f} ms",
                          "", "", "")  # fmt: skip
    c = results.get("catchup")
    if c:
        for s in c["sizes"]:
            table.add_row("4. catch-up (fresh phone)", f"{s['cases']:,} cases", f"{s['seconds']:.1f} s "
                          f"({s['cases_per_s']:,.0f}/s)", f"{s['baseline_seconds']:.2f} s SELECT+json.loads",
                          f"{s['ratio']:.3f}", peer.catchup_goal(s["cases"], s["seconds"], results.get("peer")))  # fmt: skip
        for s in c["sizes"]:
            w = s.get("worker")
            if w:
                table.add_row("4. a worker's first pull", f"{w['her_cases']:,} of {w['city_cases']:,} cases",
                              f"{w['seconds']:.2f} s", f"{w['baseline_seconds']:.3f} s SELECT+json.loads of hers",
                              f"{w['ratio']:.3f}", f"≤ 0.3 s: {'met' if w['seconds'] <= 0.3 else 'missed'}")  # fmt: skip
    cl = results.get("client")
    if cl:
        for s in cl["sizes"]:
            alone = s.get("round") == "push"
            size = f"{s['devices']} phones × {s['ops_per_device']} ops" + (
                ", push alone" if alone else ", round"
            )
            goals = peer.client_goals(s, results.get("peer"))
            table.add_row("6. phone CPU per pushed op", size, f"{s['client_cpu_us_per_op']:.0f} µs",
                          f"{s['baseline_client_cpu_us_per_op']:.0f} µs plain JSON POST", f"{s['cpu_ratio']:.2f}",
                          goals.get("client_cpu", "≤ peer's"))  # fmt: skip
            table.add_row("6. push wall rate", size, f"{s['ops_per_s']:,.0f} ops/s",
                          f"{s['baseline_ops_per_s']:,.0f} ops/s plain JSON POST", f"{s['rate_ratio']:.2f}",
                          goals.get("rate", "≥ 2× peer's"))  # fmt: skip
            table.add_row("6. server CPU per pushed op", size, f"{s['server_cpu_us_per_op']:.0f} µs",
                          f"{s['baseline_server_cpu_us_per_op']:.0f} µs plain JSON POST",
                          f"{s['server_cpu_us_per_op'] / max(s['baseline_server_cpu_us_per_op'], 1e-9):.1f}",
                          goals.get("server_cpu", "≤ ½ peer's"))  # fmt: skip
            if alone:  # the bytes are the round's: the same ops stored
                continue
            table.add_row("7. server bytes per op", size, f"{s['server_bytes_per_op_checkpointed']:,.0f} B "
                          f"(with WAL {s['server_bytes_per_op_with_wal']:,.0f} B; compacted "
                          f"{s['server_bytes_per_op_compacted']:,.0f} B)",
                          f"{s['baseline_bytes_per_op']:,.0f} B plain JSON rows",
                          f"{s['server_bytes_per_op_checkpointed'] / s['baseline_bytes_per_op']:.2f}",
                          goals.get("bytes", "≤ 1.5× peer's"))  # fmt: skip
            table.add_row("7. phone bytes per op", size, f"{s['phone_bytes_per_op_checkpointed']:,.0f} B "
                          f"(with WAL {s['phone_bytes_per_op_with_wal']:,.0f} B)",
                          f"{s['baseline_bytes_per_op']:,.0f} B the same ops as plain JSON rows",
                          f"{s['phone_bytes_per_op_checkpointed'] / s['baseline_bytes_per_op']:.2f}",
                          "")  # fmt: skip
            table.add_row("7. wire bytes per op", size, f"up {s['wire_up_bytes_per_op']:,.0f} B, down "
                          f"{s['wire_down_bytes_per_op']:,.0f} B", f"up {s['baseline_wire_up_bytes_per_op']:,.0f}"
                          " B (JSON bodies); down: none (the baseline pulls nothing)",
                          f"{s['wire_up_bytes_per_op'] / s['baseline_wire_up_bytes_per_op']:.2f} (up); "
                          "down —", "")  # fmt: skip
    for row in peer.rows(results.get("peer")):
        table.add_row(*row)
    for row in openloop.rows(results.get("openloop")):
        table.add_row(*row)
    ph = results.get("phone")
    if ph:
        for size, s in ph["reports"].items():
            table.add_row("5. report saved locally", size, f"p50 {s['p50_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms",
                          "", "", "milliseconds")  # fmt: skip
        for size, s in ph["photos"].items():
            table.add_row("5. photo made ready", size, f"p50 {s['prepare_p50_s'] * 1000:.0f} ms",
                          f"{s['decode_p50_s'] * 1000:.0f} ms Pillow decode", f"{s['ratio_vs_decode']:.2f}",
                          "< 500 ms (12 MP)")  # fmt: skip
    en = results.get("enroll")
    if en:
        table.add_row("9. a phone's enrollment: server CPU", f"{en['phones']} phones, {en['grids']:,} grids "
                      f"({en['answer_bytes'] / 1e6:.2f} MB answer)", f"{en['server_cpu_ms_per_enrollment']:.1f} ms",
                      f"{en['baseline_json_dumps_ms']:.1f} ms one json.dumps of the answer", f"{en['cpu_ratio']:.2f}",
                      f"< 1 (the city is not encoded per phone): {'met' if en['cpu_ratio'] < 1 else 'missed'}")  # fmt: skip
    for row in postgres.rows(results.get("postgres")):
        table.add_row(*row)
    return table


def main(argv: list[str]) -> int:
    wanted = argv or list(PARTS)
    unknown = set(wanted) - set(PARTS)
    if unknown:
        print(f"unknown parts {sorted(unknown)}; choose from {list(PARTS)}", file=sys.stderr)
        return 2
    console = Console() if sys.stdout.isatty() else Console(width=160)
    results: dict[str, Any] = {"machine": machine(), "command": "python -m bench " + " ".join(argv)}
    started = time.perf_counter()
    for name in wanted:
        with console.status(f"bench: {name}"):
            t = time.perf_counter()
            results[name] = PARTS[name]()
            console.log(f"{name} done in {time.perf_counter() - t:.0f} s")
    results["seconds"] = time.perf_counter() - started
    results.setdefault("peer", peer.not_run())  # the figures the goals were judged against
    console.print(_table(results))
    prof = results.get("reconcile", {}).get("profile")
    if prof:
        where = Table(title=f"where reconcile time goes (cProfile, {prof['ops']:,} ops)")
        where.add_column("stage")
        where.add_column("seconds", justify="right")
        where.add_column("share", justify="right")
        for s in prof["stages"]:
            where.add_row(s["stage"], f"{s['seconds']:.3f}", f"{s['share']:.0%}")
        console.print(where)
    m = results["machine"]
    console.print(f"machine: {m['nproc']} cores, {m['cpu']}, {m['memory']}, Python {m['python']}, "
                  f"SQLite {m['sqlite']}")  # fmt: skip
    (HERE / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", "utf-8")
    console.print(f"wrote {HERE / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
