"""What must hold of a store after a run, asked through the `Store` interface (so on PostgreSQL too):
every (device, seq) in the op log exactly once, each device at its last sequence number, nothing
held or quarantined, no op twice in a case's timeline; and the cases, canonical (without what a
clock or an arrival order decides), to compare with a reference store."""

from __future__ import annotations

from collections import Counter
from typing import Any

from shared.model import case_to_dict
from sync_server.store.base import Store


def problems(store: Store, expected_ops: dict[str, int]) -> list[str]:
    found: list[str] = []
    rows = store.audit_rows()
    seqs: dict[str, Counter[int]] = {}
    for device_id in expected_ops:
        seqs[device_id] = Counter(o.seq for o in store.outcomes_of(device_id, 1, 10**9))
    for device_id, last in expected_ops.items():
        device = store.device(device_id)
        if device is None or device.last_seq != last:
            found.append(f"device {device_id[:8]} stands at {device and device.last_seq}, sent {last}")
        if seqs[device_id] != Counter(range(1, last + 1)):
            wrong = sorted(
                s for s in set(seqs[device_id]) | set(range(1, last + 1)) if seqs[device_id][s] != 1
            )
            found.append(f"device {device_id[:8]}: seqs not exactly once: {wrong[:10]}")
    found += [
        f"op {op[:8]} in the op log {n} times" for op, n in Counter(r.op_id for r in rows).items() if n > 1
    ]
    if store.backlog_size():
        found.append(f"{store.backlog_size()} segments held")
    if store.quarantined():
        found.append(f"{len(store.quarantined())} segments quarantined")
    for case in store.cases():
        ids = [t.op_id for t in case.timeline]
        if len(ids) != len(set(ids)):
            found.append(f"case {case.case_id[:8]} has an op twice in its timeline")
    return found


def canonical_cases(store: Store) -> dict[str, dict[str, Any]]:
    """As `bench.inventory.canonical_cases`: without case numbers (given in arrival order), duplicate
    suggestions (which case came first), and times."""
    found = {}
    for case in store.cases():
        doc = case_to_dict(case)
        for key in ("case_no", "possible_duplicates", "reported_at", "closed_at", "deadline", "overdue"):
            doc.pop(key, None)
        doc["timeline"] = [{k: v for k, v in e.items() if k != "at"} for e in doc.get("timeline", [])]
        found[case.case_id] = doc
    return found
