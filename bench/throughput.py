"""1. Reconcile throughput: sealed segments → applied in the central store, against plain SQLite.

The baseline is the raw limit of the same machine and disk: the same op rows inserted with
`executemany` into a comparable table (same pragmas as the store: WAL, synchronous=NORMAL) in one
transaction. The reconcile run does everything a night does per segment: read the header, check the
device, verify the signature, decrypt, decompress, validate every op, place the segment, apply the
rules, and commit cases, outcomes, audit and the receipt in one transaction per segment.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench import fleet
from bench.measure import workdir
from shared import crypto
from shared.envelope import open_segment_keyring, read_header
from shared.ops import decode_ops
from shared.rules import apply_op
from sync_server.city import CityCache
from sync_server.config import load_config
from sync_server.reconcile import Reconciler
from sync_server.store import open_store

OPS_PER_SEGMENT = 100
DEVICES = 200

_BASELINE_TABLE = (
    "CREATE TABLE ops (device_id TEXT NOT NULL, seq INTEGER NOT NULL, op_id TEXT NOT NULL, "
    "actor TEXT NOT NULL, case_id TEXT NOT NULL, base_version INTEGER NOT NULL, captured_at INTEGER NOT NULL, "
    "kind TEXT NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (device_id, seq))"
)


def night(
    total_ops: int, devices: int, data_dir: Path, *, seed: int = 1
) -> tuple[Any, list[bytes], list[dict[str, Any]]]:
    """A server data dir and the night's segments, interleaved across devices as they would arrive."""
    city, members = fleet.fleet(devices, seed=seed)
    keys = fleet.build_server(data_dir, city, members)
    public = crypto.public_raw(keys.encryption)
    per_device = total_ops // devices
    writers = [fleet.Writer(m, public, seed=seed) for m in members]
    columns: list[list[bytes]] = []
    ops: list[dict[str, Any]] = []
    for writer in writers:
        segments = []
        for start in range(0, per_device, OPS_PER_SEGMENT):
            batch = writer.ops(min(OPS_PER_SEGMENT, per_device - start))
            ops.extend(batch)
            segments.append(writer.seal(batch))
        columns.append(segments)
    blobs = [column[i] for i in range(max(map(len, columns))) for column in columns if i < len(column)]
    return keys, blobs, ops


def baseline(ops: list[dict[str, Any]], path: Path) -> float:
    """Seconds for plain SQLite to insert the same op rows in one transaction."""
    rows = [
        (o["device_id"], o["seq"], o["op_id"], o["actor"], o["case_id"], o["base_version"], o["captured_at"],
         o["kind"], json.dumps(o["payload"], ensure_ascii=False, separators=(",", ":")))
        for o in ops
    ]  # fmt: skip
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(_BASELINE_TABLE)
    start = time.perf_counter()
    db.execute("BEGIN IMMEDIATE")
    db.executemany("INSERT INTO ops VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.execute("COMMIT")
    seconds = time.perf_counter() - start
    db.close()
    return seconds


def _reconciler(data_dir: Path, keys: Any) -> Reconciler:
    store = open_store(data_dir)
    return Reconciler(store, load_config(data_dir), keys, CityCache(store))


def reconcile(total_ops: int, devices: int = DEVICES) -> dict[str, Any]:
    with workdir("throughput") as work:
        keys, blobs, ops = night(total_ops, devices, work / "server")
        base_s = min(baseline(ops, work / f"baseline{i}.db") for i in range(3))
        reconciler = _reconciler(work / "server", keys)
        receipts = []
        start = time.perf_counter()
        for blob in blobs:
            receipts.append(reconciler.apply_segment(blob, fleet.NOW, fleet.NOW))
        seconds = time.perf_counter() - start
        reconciler.store.close()
    statuses = Counter(r["status"] for r in receipts)
    outcomes = Counter(o["outcome"] for r in receipts for o in r["outcomes"])
    applied = sum(outcomes.values())
    if statuses != {"applied": len(blobs)} or outcomes != {"applied": len(ops)}:
        raise RuntimeError(
            f"reconcile bench did not apply everything: {statuses}, {applied} of {len(ops)} ops"
        )
    return {
        "ops": len(ops),
        "segments": len(blobs),
        "devices": devices,
        "seconds": seconds,
        "ops_per_s": len(ops) / seconds,
        "baseline_seconds": base_s,
        "baseline_ops_per_s": len(ops) / base_s,
        "ratio": base_s / seconds,
        "outcomes": dict(outcomes),
    }


def floor(total_ops: int, devices: int = DEVICES) -> dict[str, Any]:
    """The same night's work with no storage at all: open every segment (signature, HPKE, zlib) and
    validate its ops, then run the rules over them against cases held in a dict. No SQL, no JSON
    documents, no op log: a lower bound for any reconcile written in Python on `shared/`. Measured in
    CPU seconds of this process, against the same plain-SQLite baseline."""
    with workdir("floor") as work:
        keys, blobs, ops = night(total_ops, devices, work / "server", seed=4)
        base_s = min(baseline(ops, work / f"baseline{i}.db") for i in range(3))
        store = open_store(work / "server")
        config = load_config(work / "server")
        ctx = CityCache(store).get().rule_context(fleet.NOW)
        devices_by_id = {d.device_id: d for d in store.devices()}
        actors = {w.worker_id: w.actor() for w in store.workers()}
        store.close()
        keyring = keys.keyring()
        started = time.process_time()
        opened = []
        for blob in blobs:
            device = devices_by_id[read_header(blob, config.limits).device_id]
            header, plain = open_segment_keyring(
                blob, device_public_raw=device.signing_key, server_keys=keyring, limits=config.limits
            )
            decoded = decode_ops(
                plain, device_id=header.device_id, first_seq=header.first_seq, count=header.op_count
            )
            opened.append((actors[device.worker_id], decoded))
        open_s = time.process_time() - started
        cases: dict[str, Any] = {}
        for actor, segment_ops in opened:
            for op in segment_ops:
                _, new = apply_op(cases.get(op.case_id), op, actor, ctx)
                if new is not None:
                    cases[new.case_id] = new
        total_s = time.process_time() - started
    n = len(ops)
    return {
        "ops": n,
        "open_validate_us_per_op": open_s / n * 1e6,
        "rules_us_per_op": (total_s - open_s) / n * 1e6,
        "ops_per_s": n / total_s,
        "baseline_ops_per_s": n / base_s,
        "ratio": base_s / total_s,
        "ratio_on_two_cores": 2 * base_s / total_s,
    }


# --- where the time goes ---------------------------------------------------------------------------

# Named stages: (file suffix, function) whose cumulative time is reported.
STAGES = (
    ("verify signature", "shared/envelope.py", "verify_segment"),
    ("open (HPKE + zlib)", "shared/envelope.py", "open_segment"),
    ("decode + validate ops", "shared/ops.py", "decode_ops"),
    ("rules (apply_op)", "shared/rules.py", "apply_op"),
    ("duplicate suggestions", "sync_server/casework.py", "suggest"),
    ("case numbers", "sync_server/store/sqlite_tx.py", "reserve_case_numbers"),
    ("load cases (SELECT + JSON)", "sync_server/store/sqlite_tx.py", "load_cases"),
    ("save cases (JSON + upsert)", "sync_server/store/sqlite_tx.py", "save_cases"),
    ("  of which case JSON", "sync_server/store/sqlite_tx.py", "case_row"),
    ("op log rows (outcome + audit)", "sync_server/store/sqlite_tx.py", "record_ops"),
    ("outcome rows (store v1)", "sync_server/store/sqlite_tx.py", "record_outcomes"),
    ("audit rows (store v1)", "sync_server/store/sqlite_tx.py", "record_audit"),
    ("receipt row", "sync_server/store/sqlite_tx.py", "record_applied_segment"),
    ("backlog check after each segment", "sync_server/reconcile.py", "drain_backlog"),
    ("city cache check", "sync_server/city.py", "get"),
    ("transactions (BEGIN/COMMIT)", "sync_server/store/sqlite.py", "transaction"),
)


def profile(total_ops: int, devices: int = DEVICES) -> dict[str, Any]:
    """cProfile one reconcile run; cumulative seconds per named stage and the top functions by own time."""
    with workdir("profile") as work:
        keys, blobs, _ = night(total_ops, devices, work / "server", seed=2)
        reconciler = _reconciler(work / "server", keys)
        reconciler.cities.get()  # load the city outside the profile: it happens once per process
        profiler = cProfile.Profile()
        profiler.enable()
        for blob in blobs:
            reconciler.apply_segment(blob, fleet.NOW, fleet.NOW)
        profiler.disable()
        reconciler.store.close()
    stats = pstats.Stats(profiler)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    stages = []
    for label, suffix, name in STAGES:
        cum = sum(v[3] for (file, _, fn), v in raw.items() if fn == name and file.endswith(suffix))
        stages.append({"stage": label, "seconds": cum, "share": cum / total if total else 0.0})
    top = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:15]
    own = [
        {"function": f"{Path(file).name}:{line}({fn})", "calls": v[1], "own_s": v[2], "share": v[2] / total}
        for (file, line, fn), v in top
    ]
    return {"ops": total_ops, "profiled_seconds": total, "stages": stages, "top_own_time": own}
