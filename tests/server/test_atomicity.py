"""Nothing is half-applied: a crash between receipt and commit leaves the store as it was."""

from __future__ import annotations

from typing import Any

import pytest

from sync_server.store.sqlite_tx import SqliteTransaction
from tests.server.device import hex32


class Crash(RuntimeError):
    pass


def test_a_crash_inside_the_transaction_leaves_nothing_and_a_resend_applies(
    worker: Any, services: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    case_id = hex32()
    worker.push_ops([worker.create(case_id)])
    before = (services.store.change_seq(), services.store.case(case_id).version)
    blob = worker.seal([worker.note(case_id), worker.create()])

    def crash(*args: Any, **kwargs: Any) -> None:
        raise Crash("power cut")

    monkeypatch.setattr(SqliteTransaction, "record_applied_segment", crash)
    with pytest.raises(Crash):
        worker.push(blob)
    assert (services.store.change_seq(), services.store.case(case_id).version) == before
    assert services.store.device(worker.device_id).last_seq == 1
    assert services.store.outcomes_of(worker.device_id, 2, 3) == []
    assert len(services.store.audit_rows()) == 1

    monkeypatch.undo()
    receipt = worker.push(blob).json()
    assert receipt["status"] == "applied"
    assert services.store.case(case_id).version == 2


def test_a_crash_while_saving_cases_keeps_the_case_numbers_unspent(
    worker: Any, services: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    blob = worker.seal([worker.create()])
    monkeypatch.setattr(SqliteTransaction, "save_cases", lambda *a: (_ for _ in ()).throw(Crash("disk")))
    with pytest.raises(Crash):
        worker.push(blob)
    monkeypatch.undo()
    case_id = worker.push(blob).json()["outcomes"][0]["case_id"]
    assert services.store.case(case_id).case_no == "2026000001"
