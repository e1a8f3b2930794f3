"""The store contract (`sync_server.store.base`), one guarantee after another, on every store."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from shared.model import Case, Location
from sync_server.changes import collect_changes
from sync_server.store import Store, open_store
from sync_server.store.base import AuditRow, OpLogRow, OutcomeRow, WorkerRecord
from tests.store import world

NOW = world.MONDAY_10AM


def _worker(worker_id: str) -> WorkerRecord:
    return WorkerRecord(worker_id, worker_id, "worker", None, ("441502001001001",))


class Boom(Exception):
    pass


# --- transactions and groups -----------------------------------------------------------------------


def test_a_transaction_commits_all_of_its_writes_or_none(store: Store) -> None:
    before = store.change_seq()
    with pytest.raises(Boom), store.transaction() as tx:
        tx.save_worker(_worker("w.one"))
        tx.reserve_change_seqs(5)
        raise Boom
    assert store.worker("w.one") is None and store.change_seq() == before
    with store.transaction() as tx:
        tx.save_worker(_worker("w.one"))
        first = tx.reserve_change_seqs(5)
    assert store.worker("w.one") is not None and first == before + 1


def test_groups_behave_as_savepoints_on_one_connection(store: Store, store_url: str) -> None:
    other = open_store(store_url)  # another server process's view
    try:
        with store.group():
            with store.transaction() as tx:
                tx.save_worker(_worker("w.kept"))
            with pytest.raises(Boom), store.transaction() as tx:
                tx.save_worker(_worker("w.undone"))
                raise Boom
            # reads of this thread inside the group see the group's work; others see nothing yet
            assert store.worker("w.kept") is not None and store.worker("w.undone") is None
            assert other.worker("w.kept") is None
            with pytest.raises(RuntimeError), store.group():
                pass
        assert other.worker("w.kept") is not None and other.worker("w.undone") is None
        with pytest.raises(Boom), store.group():  # left by an exception: what completed is kept
            with store.transaction() as tx:
                tx.save_worker(_worker("w.before"))
            raise Boom
        assert other.worker("w.before") is not None
    finally:
        other.close()


# --- the device's position: read under a lock held to commit ---------------------------------------


def test_the_device_position_is_read_under_a_lock_held_until_commit(store_url: str) -> None:
    """A second transaction asking for the position while the first holds it waits, then reads
    what the first committed: never the position from before (then both would decide "apply")."""
    first, second = open_store(store_url), open_store(store_url)
    device_id = uuid.uuid4().hex
    locked, seen = threading.Event(), []

    def holder() -> None:
        with first.transaction() as tx:
            assert tx.lock_device(device_id).last_seq == 0
            locked.set()
            time.sleep(0.3)  # the other asks meanwhile
            tx.save_worker(_worker("w.dev"))
            tx.add_device(_device(device_id))
            tx.set_device_position(device_id, 7, bytes([7]) * 32)

    try:
        thread = threading.Thread(target=holder)
        thread.start()
        assert locked.wait(10)
        with second.transaction() as tx:
            seen.append(tx.lock_device(device_id))
        thread.join(10)
        assert seen[0].last_seq == 7 and seen[0].last_hash == bytes([7]) * 32
    finally:
        first.close()
        second.close()


def _device(device_id: str) -> Any:
    from sync_server.store.base import DeviceRecord

    return DeviceRecord(device_id, "w.dev", bytes(32), bytes(32), "Pixel", NOW)


# --- the changes feed: never skips a committed change, never shows an uncommitted one --------------


def _case(case_id: str, category: str = "0101", lat: float = 22.7875, lon: float = 115.362375,
          status: str = "reported", reported_at: int = NOW) -> Case:  # fmt: skip
    return Case(case_id=case_id, category=category, reporter="w.one", status=status,
                location=Location(lat, lon, 5.0, "gps"), grid_code="441502001001001", reported_at=reported_at,
                version=1)  # fmt: skip


def _save(store: Store, *cases: Case) -> None:
    with store.transaction() as tx:
        first = tx.reserve_change_seqs(len(cases))
        tx.save_cases([(case, first + i) for i, case in enumerate(cases)])


def test_the_feed_never_shows_a_change_still_in_a_transaction_nor_moves_its_cursor_past_it(
    store: Store, store_url: str
) -> None:
    _save(store, _case("a" * 32))
    writer = open_store(store_url)
    reserved, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with writer.transaction() as tx:
            seq = tx.reserve_change_seqs(1)
            tx.save_cases([(_case("b" * 32), seq)])
            reserved.set()
            assert release.wait(10)

    try:
        thread = threading.Thread(target=slow_writer)
        thread.start()
        assert reserved.wait(10)
        page = collect_changes(store, "reader", world.ADMIN, 0, 100, NOW)
        assert [c for c in page["cases"] if "b" * 32 in c] == []
        assert page["cursor"] == store.change_seq() == 1  # the horizon: below the uncommitted number
        release.set()
        thread.join(10)
        page = collect_changes(store, "reader", world.ADMIN, page["cursor"], 100, NOW)
        assert len(page["cases"]) == 1 and "b" * 32 in page["cases"][0] and page["cursor"] == 2
    finally:
        release.set()
        writer.close()


def test_a_full_page_ends_at_its_last_item_and_the_last_page_at_the_horizon(store: Store) -> None:
    _save(store, *(_case(f"{i:032x}") for i in range(5)))
    page = collect_changes(store, "reader", world.ADMIN, 0, 2, NOW)
    assert (len(page["cases"]), page["cursor"], page["more"]) == (2, 2, True)
    page = collect_changes(store, "reader", world.ADMIN, 4, 2, NOW)
    assert (len(page["cases"]), page["cursor"], page["more"]) == (1, 5, False)


# --- duplicate candidates: asked by (category, lat, lon, radius) -----------------------------------

_M_LAT = 1 / 111_195.0  # one metre north, in degrees


def test_duplicate_candidates_are_asked_by_category_place_and_radius(store: Store) -> None:
    lat, lon = 22.7875, 115.362375  # SPOT_A of tests.server.device
    _save(
        store,
        _case("near".ljust(32, "0"), lat=lat + 40 * _M_LAT),  # 40 m north: within 50 m
        _case("edge".ljust(32, "0"), lat=lat - 49 * _M_LAT),  # 49 m south
        _case("far0".ljust(32, "0"), lat=lat + 200 * _M_LAT),  # 200 m: never
        _case("othercat".ljust(32, "0"), category="0102"),  # same spot, another category
        _case("old0".ljust(32, "0"), reported_at=NOW - 3 * 86400),  # before `since`
        _case("rejected".ljust(32, "0"), status="rejected"),
    )
    with store.transaction() as tx:
        found = tx.duplicate_candidates([("0101", lat, lon), ("0102", lat, lon)], 50.0, NOW - 86400)
        wider = tx.duplicate_candidates([("0101", lat, lon)], 250.0, NOW - 86400)
    by_point = {(row.point, row.case_id[:8]) for row in found}
    assert {(0, "near0000"), (0, "edge0000"), (1, "othercat")} <= by_point
    assert not {key for key in by_point if key[1] in ("far00000", "old00000", "rejected")}
    assert (1, "near0000") not in by_point and (0, "othercat") not in by_point
    assert "far00000" in {row.case_id[:8] for row in wider}


# --- the op log --------------------------------------------------------------------------------------


def test_the_op_log_gives_back_every_value_written_whatever_its_ids_look_like(store: Store) -> None:
    device = uuid.uuid4().hex
    rows = [
        OpLogRow(device, 1, "ab" * 16, "w.one", "cd" * 16, "create", "applied", None, 1, "", 11, NOW, NOW),
        OpLogRow(device, 2, "op-2", "w.two", "CD" * 16, "note", "rejected", "case.not_allowed", None,
                 "not hers", 12, NOW, NOW + 5, "forced"),
        OpLogRow("open311.k1", 0, "ef" * 16, "open311", "cd" * 16, "resolve_conflict", "applied", None, 2, "",
                 13, NOW + 9, NOW + 9, "review"),
    ]  # fmt: skip
    with store.transaction() as tx:
        tx.record_ops(rows)
    outcomes = [OutcomeRow(*r[:3], r.case_id, *r[6:13]) for r in rows]
    audit = [AuditRow(r.op_id, r.actor, r.device_id, r.case_id, *r[5:8], r.received_at, r.applied_at, r.flags)
             for r in rows]  # fmt: skip
    assert store.outcomes_of(device, 1, 2) == outcomes[:2]
    assert [(c.change_seq, c.outcome) for c in store.device_outcomes(device, 0, 10)] == [
        (11, outcomes[0].to_dict()), (12, outcomes[1].to_dict())
    ]  # fmt: skip
    assert store.audit_rows("cd" * 16) == [audit[0], audit[2]] and store.audit_rows("CD" * 16) == [audit[1]]
    assert [row for row in store.audit_rows() if row.op_id in {"ab" * 16, "op-2", "ef" * 16}] == audit


# --- photos: offsets by compare-and-set ------------------------------------------------------------


def test_a_photo_offset_moves_only_from_where_it_stands(store: Store) -> None:
    sha = "ab" * 32
    with store.transaction() as tx:
        assert tx.advance_photo(sha, 3000, 0, 1000, "dev1")  # no record yet: made now
        assert not tx.advance_photo(sha, 3000, 0, 1000, "dev1")  # it stands at 1000 now
        assert not tx.advance_photo(sha, 4000, 1000, 2000, "dev1")  # not the size it began with
        assert tx.advance_photo(sha, 3000, 1000, 3000, "dev1")
    record = store.photo(sha)
    assert record is not None and (record.received, record.size, record.uploader) == (3000, 3000, "dev1")
    with store.transaction() as tx:
        tx.save_photo(record.__class__(sha, 3000, 3000, True, "dev1"))
        assert not tx.advance_photo(sha, 3000, 3000, 3000, "dev1")  # complete: never moves again


# (nonces: tests/store/test_nonces.py)


# --- a transaction never reads through the store ---------------------------------------------------


class GuardedStore:
    """The store, refusing any read through it while this thread has a transaction open (a pool
    would hand out a second connection there). Reads inside a `group()` go through the group's own
    connection, so they are allowed."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._open = threading.local()
        self.violations: list[str] = []

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self._store.transaction() as tx:
            self._open.tx = True
            try:
                yield tx
            finally:
                self._open.tx = False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def guarded(*args: Any, **kw: Any) -> Any:
            if getattr(self._open, "tx", False):
                self.violations.append(name)
            return attr(*args, **kw)

        return guarded


def test_reconcile_never_reads_through_the_store_while_its_transaction_is_open(data_dir: Path) -> None:
    store = open_store(data_dir)
    guarded = GuardedStore(store)
    try:
        phone = world.phone(store, data_dir)
        party = world.server(data_dir, guarded)  # type: ignore[arg-type]
        apply = party.reconciler.apply_segment
        first = phone.seal([phone.create()])
        assert apply(first, NOW, NOW)["status"] == "applied"
        assert apply(first, NOW, NOW)["status"] == "resent"
        second, third = phone.seal([phone.create()]), phone.seal([phone.create()])
        assert apply(third, NOW, NOW)["status"] == "held"  # seq 2 missing yet
        assert apply(second, NOW, NOW)["status"] == "applied"  # and the backlog drains after it
        device = store.device(phone.device_id)
        assert device is not None and device.last_seq == 3
        party.reconciler.sweep_overdue(NOW + 30 * 86400)
        party.reconciler.sweep_backlog(NOW)
        assert guarded.violations == []
    finally:
        store.close()


def test_a_public_text_edit_reads_the_text_it_replaces_through_its_transaction(store: Store) -> None:
    from sync_server.open311_intake import set_public_text

    case_id = "c" * 32
    _save(store, _case(case_id))
    guarded = GuardedStore(store)
    set_public_text(guarded, case_id, "井盖已更换", "chen.sup", NOW)  # type: ignore[arg-type]
    set_public_text(guarded, case_id, "已修复", "chen.sup", NOW + 1)  # type: ignore[arg-type]
    assert guarded.violations == []
    assert [(e.before, e.text) for e in store.public_text_edits(case_id)] == [
        (None, "井盖已更换"),
        ("井盖已更换", "已修复"),
    ]


def test_a_supervisors_public_text_from_her_phone_is_one_transaction_and_a_refusal_keeps_nothing(
    store: Store,
) -> None:
    from shared.errors import GridsyncError
    from shared.model import Actor, Role
    from sync_server.public_text import edit_public_text

    case_id = "d" * 32
    _save(store, _case(case_id))
    guarded = GuardedStore(store)
    chen = Actor("chen.sup", Role.SUPERVISOR, frozenset({"441502001001001"}))
    for actor, code in (
        (Actor("sun.sup", Role.SUPERVISOR, frozenset({"441502001001002"})), "case.unknown"),
        (Actor("w.one", Role.WORKER, frozenset({"441502001001001"})), "case.not_allowed"),
    ):
        with pytest.raises(GridsyncError) as refused:
            edit_public_text(guarded, actor, "e" * 32, case_id, "别的", NOW)  # type: ignore[arg-type]
        assert refused.value.code == code
    edit_public_text(guarded, chen, "e" * 32, case_id, "井盖已更换", NOW)  # type: ignore[arg-type]
    edit_public_text(guarded, chen, "e" * 32, case_id, "已修复", NOW + 1)  # type: ignore[arg-type]
    assert guarded.violations == []
    assert [(e.before, e.text, e.edited_by, e.edited_at) for e in store.public_text_edits(case_id)] == [
        (None, "井盖已更换", f"chen.sup (device {'e' * 32})", NOW),
        ("井盖已更换", "已修复", f"chen.sup (device {'e' * 32})", NOW + 1),
    ]


def test_a_backup_is_a_copy_that_comes_back_as_a_new_incarnation_or_names_the_databases_tools(
    store: Store, tmp_path: Path
) -> None:
    from sync_server.store.base import BackupElsewhere

    with store.transaction() as tx:
        tx.save_worker(_worker("w.saved"))
    dest = tmp_path / "nightly"
    try:
        store.backup(dest)
    except BackupElsewhere as elsewhere:  # a database with its own tools: they are named
        assert "pg_dump" in str(elsewhere) and not dest.exists()
        return
    copy = open_store(f"sqlite://{dest}")
    try:
        assert copy.worker("w.saved") is not None and copy.incarnation() != store.incarnation()
    finally:
        copy.close()
    with pytest.raises(ValueError):  # never over an existing file
        store.backup(dest)
