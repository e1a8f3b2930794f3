"""What phones see is byte-identical on both stores: the same night applied to SQLite and to
PostgreSQL gives the same receipts, the same case documents and the same changes pages."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from bench import fleet
from shared import crypto
from sync_server.changes import collect_changes
from sync_server.config import load_config
from sync_server.services import Services, open_services
from sync_server.store.base import PublicCaseQuery
from tests.postgres.night import twin_data_dir

pytestmark = pytest.mark.postgres


def _night(members: list[fleet.Member], server_public: bytes, seed: int) -> list[bytes]:
    """A night's segments in arrival order: reports (many near one another, so duplicates are
    suggested), photos, notes, edits, and supervisors editing the workers' cases (conflicts)."""
    few = fleet.category_codes()[:2]  # few categories in two small grids: duplicates are suggested
    writers = [fleet.Writer(m, server_public, seed=seed, categories=few) for m in members]
    rng = random.Random(seed)
    blobs: list[bytes] = []
    for _round in range(6):
        for w in writers:
            if w.member.role == "supervisor" and any(o.cases for o in writers if o is not w):
                theirs = rng.choice([c for o in writers if o is not w for c in o.cases])
                ops = [
                    w.op(
                        "edit",
                        theirs,
                        {"fields": {"description": f"主任更正 {rng.random()}"}},
                        base_version=1,
                    )
                ]
                ops += w.ops(rng.randint(1, 4))
            else:
                ops = w.ops(rng.randint(1, 12))
            blobs.append(w.seal(ops))
    rng.shuffle(blobs)  # arrival order mixes devices (each device's own order kept below)
    order: dict[bytes, int] = {b: i for i, b in enumerate(blobs)}
    return sorted(blobs, key=lambda b: order[b])


def _pages(services: Services, member: fleet.Member) -> list[dict[str, Any]]:
    store = services.store
    worker = store.worker(member.worker_id)
    assert worker is not None
    pages, cursor = [], 0
    while True:
        page = collect_changes(store, member.device_id, worker.actor(), cursor, 7, fleet.NOW)
        page = {k: v for k, v in page.items() if k != "incarnation"}  # each store's own random id
        pages.append(page)
        cursor = page["cursor"]
        if not page["more"]:
            return pages


def test_the_same_night_gives_the_same_bytes_on_sqlite_and_postgresql(tmp_path: Path, pg_url: str) -> None:
    city, workers = fleet.fleet(4, seed=3, grid_count=2)
    members = [*workers, fleet.member(9, city, seed=3, role="supervisor")]
    keys = fleet.build_server(tmp_path / "sqlite", city, members)
    twin_data_dir(tmp_path / "sqlite", tmp_path / "pg", city, members, database_url=pg_url)
    opened = [
        open_services(load_config(tmp_path / d), fleet.PASSPHRASE, lambda: fleet.NOW)
        for d in ("sqlite", "pg")
    ]
    try:
        assert [s.store.kind for s in opened] == ["sqlite", "postgresql"]
        blobs = _night(members, crypto.public_raw(keys.encryption), seed=3)
        receipts: list[list[str]] = [[], []]
        for blob in blobs:
            for i, services in enumerate(opened):
                receipt = services.reconciler.apply_segment(blob, fleet.NOW, fleet.NOW)
                receipt.pop("incarnation")
                receipts[i].append(json.dumps(receipt, ensure_ascii=False, sort_keys=True))
        # a resent segment answers the same on both
        for i, services in enumerate(opened):
            again = services.reconciler.apply_segment(blobs[0], fleet.NOW + 5, fleet.NOW + 5)
            again.pop("incarnation")
            receipts[i].append(json.dumps(again, ensure_ascii=False, sort_keys=True))
        assert receipts[0] == receipts[1]
        statuses = {json.loads(r)["status"] for r in receipts[0]}
        assert "applied" in statuses and "resent" in statuses
        outcomes = [json.loads(r) for r in receipts[0]]
        kinds = {o["outcome"] for r in outcomes for o in r.get("outcomes", [])}
        assert {"applied", "hard_conflict"} <= kinds or {"applied", "soft_conflict"} <= kinds, kinds

        sqlite_cases = {c.case_id: c for c in opened[0].store.cases()}
        pg_cases = {c.case_id: c for c in opened[1].store.cases()}
        assert len(sqlite_cases) > 20
        assert any(c.possible_duplicates for c in sqlite_cases.values()), "no duplicate suggested"
        assert sqlite_cases == pg_cases
        for case_id in sqlite_cases:  # the stored documents, byte for byte
            assert opened[0].store.case(case_id) == opened[1].store.case(case_id)
        for member in members:
            assert _pages(opened[0], member) == _pages(opened[1], member)
        assert opened[0].store.change_seq() == opened[1].store.change_seq()
        # the Open311 feed's queries (PostgreSQL: the box on the GiST index) select the same pages
        lats = sorted(c.location.lat for c in sqlite_cases.values() if c.location)
        lons = sorted(c.location.lon for c in sqlite_cases.values() if c.location)
        inner = lons[len(lons) // 4], lats[len(lats) // 4], lons[3 * len(lons) // 4], lats[3 * len(lats) // 4]
        edge = (lons[0], lats[0], lons[len(lons) // 2], lats[len(lats) // 2])  # cases on its edges too
        statuses = frozenset({str(next(iter(sqlite_cases.values())).status)})
        for query in (
            PublicCaseQuery(0, 2**40),
            PublicCaseQuery(0, 2**40, bbox=inner, limit=5, offset=2),
            PublicCaseQuery(0, 2**40, bbox=edge, limit=1000),
            PublicCaseQuery(0, 2**40, categories=frozenset(fleet.category_codes()[:1]), statuses=statuses),
            PublicCaseQuery(0, 2**40, bbox=(0.0, 0.0, 1.0, 1.0)),
        ):
            page = [c.case_id for c in opened[0].store.public_cases(query)]
            assert page == [c.case_id for c in opened[1].store.public_cases(query)], query
        assert len(opened[0].store.public_cases(PublicCaseQuery(0, 2**40, bbox=edge, limit=1000))) >= 3
        assert [a.op_id for a in opened[0].store.audit_rows()] == [
            a.op_id for a in opened[1].store.audit_rows()
        ]
    finally:
        for services in opened:
            services.close()
