"""The SQLite store keeps its op log packed (`store.op_log`): ids in 16 bytes, actors, devices, kinds
and outcomes by number, the apply time as a difference. Every read gives back the values written, whatever the ids
look like; `op_log_text` reads the rows as they were."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync_server.store.base import AuditRow, OpLogRow, OutcomeRow
from sync_server.store.sqlite import SqliteStore
from tests.shared.factories import DEV_1, DEV_2

HEX_CASE = "0123456789abcdef0123456789abcdef"
ROWS = [
    OpLogRow(DEV_1, 1, "aa" * 16, "zhang.wei", HEX_CASE, "create", "applied", None, 1, "", 101, 1000, 1000),
    OpLogRow(DEV_1, 2, "bb" * 16, "zhang.wei", HEX_CASE, "note", "soft_conflict", None, 2, "status", 102, 1000,
             1007, "forced"),
    # ids that are not 32 lowercase hex digits are kept as written, character for character
    OpLogRow(DEV_1, 3, "o-3", "someone.else", "case-3", "edit", "rejected", "case.not_allowed", None,
             "the op's actor is not this device's worker", 103, 1000, 999),
    OpLogRow(DEV_1, 4, "AA" * 16, "zhang.wei", HEX_CASE.upper(), "note", "applied", None, 3, "", 104, 1000, 1001),
    OpLogRow("open311.k1", 0, "cc" * 16, "open311", HEX_CASE, "resolve_conflict", "applied", None, 4, "", 105,
             1100, 1100, "review"),
    OpLogRow(DEV_2, 1, "dd" * 16, "li.na", "ee" * 16, "create", "applied", None, 1, "", 106, 1200, 1260),
]  # fmt: skip


def as_outcome(r: OpLogRow) -> OutcomeRow:
    return OutcomeRow(r.device_id, r.seq, r.op_id, r.case_id, r.outcome, r.code, r.version, r.detail,
                      r.change_seq, r.received_at, r.applied_at)  # fmt: skip


def as_audit(r: OpLogRow) -> AuditRow:
    return AuditRow(r.op_id, r.actor, r.device_id, r.case_id, r.kind, r.outcome, r.code, r.received_at,
                    r.applied_at, r.flags)  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "store.db")
    yield opened
    opened.close()


def test_every_read_of_the_op_log_gives_back_the_values_written(store: SqliteStore) -> None:
    with store.transaction() as tx:
        tx.record_ops(ROWS[:3])
    with store.transaction() as tx:
        tx.record_ops(ROWS[3:])
    assert store.audit_rows() == [as_audit(r) for r in ROWS]
    assert store.audit_rows(HEX_CASE) == [as_audit(r) for r in ROWS if r.case_id == HEX_CASE]
    assert store.audit_rows(HEX_CASE.upper()) == [as_audit(ROWS[3])]
    assert store.audit_rows("case-3") == [as_audit(ROWS[2])]
    assert store.outcomes_of(DEV_1, 1, 4) == [as_outcome(r) for r in ROWS[:4]]
    assert store.outcomes_of(DEV_2, 1, 1) == [as_outcome(ROWS[5])]
    feed = store.device_outcomes(DEV_1, 101, 10)
    assert [(c.change_seq, c.outcome) for c in feed] == [
        (r.change_seq, as_outcome(r).to_dict()) for r in ROWS[1:4]
    ]
    assert [c.change_seq for c in store.device_outcomes("open311.k1", 0, 10)] == [105]
    assert store.device_outcomes("never.wrote", 0, 10) == []
    db = sqlite3.connect(store.path)
    text = db.execute("SELECT * FROM op_log_text ORDER BY id").fetchall()
    db.close()
    assert text == [(i, *r) for i, r in enumerate(ROWS, start=1)]


def test_hex_ids_are_stored_in_16_bytes_and_people_devices_kinds_and_outcomes_by_number(
    store: SqliteStore,
) -> None:
    with store.transaction() as tx:
        tx.record_ops(ROWS)
    db = sqlite3.connect(store.path)
    stored = db.execute(
        "SELECT typeof(op_id), length(op_id), typeof(case_id), length(case_id), typeof(actor_no), waited, "
        "typeof(kind_no), typeof(outcome_no) FROM op_log ORDER BY id"
    ).fetchall()
    names = db.execute("SELECT COUNT(*) FROM op_log_names").fetchone()[0]
    db.close()
    assert stored[0] == ("blob", 16, "blob", 16, "integer", 0, "integer", "integer")
    assert (
        stored[1][5] == 7
        and stored[2][:4] == ("text", 3, "text", 6)
        and stored[3][:4] == ("text", 32, "text", 32)
    )
    assert names == 14  # three devices, four actors, four kinds and three outcomes, each once


def test_a_name_numbered_in_a_transaction_that_rolled_back_never_reads_as_another(store: SqliteStore) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.record_ops([ROWS[0]._replace(device_id="gone.device", actor="gone.worker")])
        raise RuntimeError("refused after the op rows were written")
    with store.transaction() as tx:
        tx.record_ops([ROWS[5]])  # new names again: they may take the numbers handed out and rolled back
    assert store.audit_rows() == [as_audit(ROWS[5])]
    assert store.outcomes_of(DEV_2, 1, 1) == [as_outcome(ROWS[5])]
    assert store.outcomes_of("gone.device", 1, 1) == []
