"""Poison text: whatever Unicode an op carries is either stored and read back byte for byte, or
refused with a code (`op.bad_field`). Never a 500 over HTTP, never a dead ingest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync_server.ingest import run_ingest
from sync_server.reconcile import Reconciler
from tests.server.device import TestDevice, hex32
from tests.server.test_outbox_drains import NO_PUSH_LIMIT

LONE_SURROGATE = "\ud83d"


def seal(device: TestDevice, ops: list[dict[str, Any]]) -> bytes:
    """Sealed as JSON with \\u escapes: valid JSON and valid UTF-8 on the wire, whatever the text."""
    for i, op in enumerate(ops):
        op["seq"] = device.next_seq + i
    return device.seal(ops, payload=json.dumps(ops).encode())


def test_a_create_holding_a_lone_surrogate_is_refused_as_a_bad_field(
    worker: TestDevice, services: Any
) -> None:
    response = worker.push(seal(worker, [worker.create(description=f"井盖{LONE_SURROGATE}破损")]))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "op.bad_field"
    assert services.store.device(worker.device_id).last_seq == 0


def test_a_note_holding_a_nul_is_refused_as_a_bad_field(worker: TestDevice) -> None:
    case_id = hex32()
    worker.push_ops([worker.create(case_id)])
    response = worker.push(seal(worker, [worker.note(case_id, "a\x00b")]))
    assert response.status_code == 400 and response.json()["error"]["code"] == "op.bad_field"


def test_a_poison_file_in_the_spool_is_rejected_and_the_good_files_behind_it_apply(
    enrolled: Any, services: Any, tmp_path: Path
) -> None:
    poisoner, good = enrolled("zhang.wei"), enrolled("li.na")
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "a-poison.seg").write_bytes(seal(poisoner, [poisoner.create(description=LONE_SURROGATE)]))
    (spool / "b-good.seg").write_bytes(good.seal([good.create(spot=_spot_b())]))
    summary = run_ingest(services, spool, progress=False)
    assert summary.segments["applied"] == 1 and summary.rejected == 1
    reason = json.loads((spool / "rejected" / "a-poison.seg.reason.json").read_text("utf-8"))
    assert reason["problems"][0]["code"] == "op.bad_field"
    assert (spool / "done" / "b-good.seg").exists()


def test_an_unexpected_failure_applying_one_file_sets_that_file_aside_and_the_ingest_goes_on(
    enrolled: Any, services: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    first, second = enrolled("zhang.wei"), enrolled("li.na")
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "a.seg").write_bytes(first.seal([first.create()]))
    (spool / "b.seg").write_bytes(second.seal([second.create(spot=_spot_b())]))
    real = Reconciler.apply_opened

    def fails_for_the_first(self: Reconciler, opened: Any, *args: Any, **kwargs: Any) -> Any:
        if opened.header.device_id == first.device_id:
            raise UnicodeEncodeError("utf-8", "\ud83d", 0, 1, "surrogates not allowed")
        return real(self, opened, *args, **kwargs)

    monkeypatch.setattr(Reconciler, "apply_opened", fails_for_the_first)
    summary = run_ingest(services, spool, progress=False, workers=0)
    assert summary.segments["applied"] == 1 and summary.rejected == 1
    reason = json.loads((spool / "rejected" / "a.seg.reason.json").read_text("utf-8"))
    assert reason["problems"][0]["code"] == "server.internal"
    assert "UnicodeEncodeError" in reason["problems"][0]["detail"]
    assert (spool / "done" / "b.seg").exists()
    assert services.store.device(first.device_id).last_seq == 0


def _spot_b() -> dict[str, Any]:
    from tests.server.device import SPOT_B

    return dict(SPOT_B)


# Text of any kind: lone surrogates, NUL and other controls, RTL marks, 4-byte characters, long lines.
POISON = st.one_of(
    st.text(st.characters(exclude_categories=[]), max_size=40),
    st.sampled_from(
        ["\ud83d", "\udc00x", "a\x00b", "\u202e\u200f", "𠀀😀", "x" * 2000, "y" * 2001, "\n" * 50]
    ),
    st.lists(
        st.sampled_from(["\ud800", "\x00", "\u202e", "😀", "井", "\r", "\ufeff", "\uffff"]), max_size=30
    ).map("".join),
)


def _push_or_refuse(device: TestDevice, op: dict[str, Any]) -> dict[str, Any] | None:
    """The receipt, or None when refused with `op.bad_field` (the phone's chain then stays put)."""
    before = device.next_seq, device.last_hash
    response = device.push(seal(device, [op]))
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert response.json()["error"]["code"] == "op.bad_field"
        device.next_seq, device.last_hash = before
        return None
    receipt: dict[str, Any] = response.json()
    assert receipt["status"] == "applied", receipt
    return receipt


@pytest.mark.parametrize("config_overrides", [NO_PUSH_LIMIT])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(description=POISON, note=POISON, address=POISON)
def test_any_unicode_in_op_text_is_stored_byte_for_byte_or_refused_with_a_code(
    worker: TestDevice, services: Any, description: str, note: str, address: str
) -> None:
    case_id = hex32()
    create = worker.create(case_id, description=description)
    create["payload"]["address"] = address
    if _push_or_refuse(worker, create) is None:
        assert services.store.case(case_id) is None
        return
    case = services.store.case(case_id)
    assert case.description.encode("utf-8") == description.encode("utf-8")
    assert case.address.encode("utf-8") == address.encode("utf-8")
    receipt = _push_or_refuse(worker, worker.note(case_id, note))
    if receipt is not None:
        assert receipt["outcomes"][0]["outcome"] == "applied"
        assert services.store.case(case_id).notes[-1].text.encode("utf-8") == note.encode("utf-8")


def test_a_segment_of_deeply_nested_json_is_refused_as_malformed(worker: TestDevice, services: Any) -> None:
    op = worker.create()
    op["seq"] = worker.next_seq
    response = worker.push(worker.seal([op], advance=False, payload=b"[" * 100_000 + b"]" * 100_000))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "op.malformed"
    assert services.store.device(worker.device_id).last_seq == 0
