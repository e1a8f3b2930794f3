"""The overnight ingest over a spool folder: the same bytes as a POST, the same result."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from shared.errors import GridsyncError
from shared.handover import KIND_PHOTO, KIND_SEGMENT, HandoverEntry, read_handover, write_handover
from sync_server.enrollment import revoke_device
from sync_server.ingest import run_ingest
from sync_server.reconcile import Reconciler
from tests.server.device import TestDevice, hex32


def _spool(tmp_path: Path, worker: TestDevice, count: int) -> tuple[Path, list[str]]:
    spool = tmp_path / "spool"
    spool.mkdir()
    ids = []
    for i in range(count):
        case_id = hex32()
        ids.append(case_id)
        # names in reverse order: the ingest must order by sequence, not by file name
        (spool / f"{count - i:03d}.seg").write_bytes(
            worker.seal([worker.create(case_id), worker.note(case_id)])
        )
    return spool, ids


def test_a_spool_is_applied_in_sequence_order_and_files_move_to_done(
    worker: TestDevice, services: Any, tmp_path: Path
) -> None:
    spool, ids = _spool(tmp_path, worker, 5)
    summary = run_ingest(services, spool, progress=False)
    assert summary.segments["applied"] == 5 and summary.ops["applied"] == 10
    assert sorted(p.name for p in (spool / "done").iterdir()) == [f"{i:03d}.seg" for i in range(1, 6)]
    assert not list(spool.glob("*.seg"))
    assert services.store.device(worker.device_id).last_seq == 10
    assert [services.store.case(i).case_no for i in ids] == [f"202600000{i}" for i in range(1, 6)]


def test_an_ingest_stopped_halfway_can_be_run_again(
    worker: TestDevice, services: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool, _ = _spool(tmp_path, worker, 4)
    real = Reconciler.apply_opened
    calls = {"n": 0}

    def stop_on_third(self: Reconciler, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Reconciler, "apply_opened", stop_on_third)
    with pytest.raises(KeyboardInterrupt):
        run_ingest(services, spool, progress=False)
    monkeypatch.undo()
    assert services.store.device(worker.device_id).last_seq == 4
    summary = run_ingest(services, spool, progress=False)
    assert summary.segments["applied"] == 2
    assert len(list((spool / "done").iterdir())) == 4
    assert services.store.device(worker.device_id).last_seq == 8


def test_a_rerun_over_files_already_applied_changes_nothing(
    worker: TestDevice, services: Any, tmp_path: Path
) -> None:
    spool, _ = _spool(tmp_path, worker, 2)
    copies = {p.name: p.read_bytes() for p in spool.glob("*.seg")}
    run_ingest(services, spool, progress=False)
    for name, blob in copies.items():
        (spool / name).write_bytes(blob)
    seq = services.store.change_seq()
    summary = run_ingest(services, spool, progress=False)
    assert summary.segments["resent"] == 2 and services.store.change_seq() == seq


def test_a_bad_file_is_rejected_with_its_reason(worker: TestDevice, services: Any, tmp_path: Path) -> None:
    spool, _ = _spool(tmp_path, worker, 1)
    (spool / "junk.seg").write_bytes(b"GSEG" + os.urandom(300))
    summary = run_ingest(services, spool, progress=False)
    assert summary.rejected == 1
    reason = json.loads((spool / "rejected" / "junk.seg.reason.json").read_text())
    assert reason["problems"][0]["code"] in ("segment.bad_version", "segment.malformed")
    assert (spool / "done" / "001.seg").exists()


def test_a_hand_over_file_carries_segments_and_photos(
    worker: TestDevice, services: Any, tmp_path: Path
) -> None:
    photo = os.urandom(3000)
    sha = hashlib.sha256(photo).hexdigest()
    case_id = hex32()
    entries = [
        HandoverEntry(KIND_SEGMENT, worker.seal([worker.create(case_id)])),
        HandoverEntry(KIND_PHOTO, photo, sha),
        HandoverEntry(KIND_SEGMENT, worker.seal([worker.photo(case_id, "before", sha)])),
    ]
    blob = write_handover(entries)
    assert read_handover(blob) == entries
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "phone.gsho").write_bytes(blob)
    summary = run_ingest(services, spool, progress=False)
    assert summary.segments["applied"] == 2 and summary.photos == 1
    assert services.store.photo(sha).complete
    assert services.store.case(case_id).photos[0].sha256 == sha
    assert (spool / "done" / "phone.gsho").exists()


def test_a_damaged_hand_over_file_is_refused_as_a_whole() -> None:
    blob = write_handover([HandoverEntry(KIND_SEGMENT, b"x" * 10)])
    with pytest.raises(GridsyncError) as caught:
        read_handover(blob[:-1])
    assert caught.value.code == "segment.malformed"


def test_a_spool_with_a_gap_holds_the_later_segments(
    worker: TestDevice, services: Any, tmp_path: Path
) -> None:
    spool, _ = _spool(tmp_path, worker, 3)
    (spool / "002.seg").unlink()  # the second segment (seq 3-4) never reached the spool
    summary = run_ingest(services, spool, progress=False)
    assert summary.segments["applied"] == 1 and summary.segments["held"] == 1
    assert services.store.backlog_size() == 1


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_refusals_found_in_a_worker_keep_their_codes_and_the_rest_applies(
    enrolled: Any, services: Any, tmp_path: Path, workers: int
) -> None:
    zhang, li = enrolled("zhang.wei"), enrolled("li.na")
    spool = tmp_path / "spool"
    spool.mkdir()
    for i in range(3):
        case_id = hex32()
        (spool / f"a{i}.seg").write_bytes(zhang.seal([zhang.create(case_id), zhang.note(case_id)]))
    tampered = bytearray(zhang.seal([zhang.note(hex32())]))
    tampered[200] ^= 1
    (spool / "b.seg").write_bytes(bytes(tampered))
    (spool / "c.seg").write_bytes(li.seal([li.create()]))
    revoke_device(services.store, li.device_id, 0)
    summary = run_ingest(services, spool, progress=False, workers=workers)
    assert summary.segments["applied"] == 3 and summary.ops["applied"] == 6 and summary.rejected == 2
    codes = {
        name: json.loads((spool / "rejected" / f"{name}.reason.json").read_text())["problems"][0]["code"]
        for name in ("b.seg", "c.seg")
    }
    assert codes == {"b.seg": "segment.bad_signature", "c.seg": "device.revoked"}
    assert services.metrics.segments.value(status="segment.bad_signature") == 1
    assert services.store.device(zhang.device_id).last_seq == 6


def test_a_large_spool_is_applied_in_groups_and_every_file_moves_once_committed(
    worker: TestDevice, services: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sync_server.ingest as ingest

    monkeypatch.setattr(ingest, "GROUP_SEGMENTS", 4)
    spool, ids = _spool(tmp_path, worker, 10)
    summary = run_ingest(services, spool, progress=False, workers=2)
    assert summary.segments["applied"] == 10 and summary.ops["applied"] == 20
    assert len(list((spool / "done").iterdir())) == 10
    assert [services.store.case(i).case_no for i in ids] == [f"2026{i:06d}" for i in range(1, 11)]


def test_a_segment_failing_inside_a_group_rolls_back_alone(
    worker: TestDevice, services: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sync_server.store.sqlite_tx import SqliteTransaction

    spool, ids = _spool(tmp_path, worker, 3)
    real = SqliteTransaction.record_applied_segment

    def full_on_the_second(self: Any, device_id: str, first_seq: int, *args: Any) -> None:
        if first_seq == 3:  # after its cases, outcomes and case numbers were written
            raise GridsyncError("server.storage_full", "disk full")
        real(self, device_id, first_seq, *args)

    monkeypatch.setattr(SqliteTransaction, "record_applied_segment", full_on_the_second)
    summary = run_ingest(services, spool, progress=False)
    assert summary.segments["applied"] == 1 and summary.segments["held"] == 1 and summary.rejected == 1
    assert services.store.device(worker.device_id).last_seq == 2
    assert services.store.case(ids[0]).case_no == "2026000001"
    assert services.store.case(ids[1]) is None  # nothing of the failed segment is left
    assert [row.case_id for row in services.store.audit_rows()] == [ids[0], ids[0]]
    monkeypatch.undo()
    worker_files = sorted((spool / "done").iterdir()) + sorted((spool / "rejected").glob("*.seg"))
    for path in worker_files:
        os.replace(path, spool / path.name)
    again = run_ingest(services, spool, progress=False)  # the held third one follows the second at once
    assert again.segments["applied"] == 1 and again.segments["resent"] == 2
    assert services.store.device(worker.device_id).last_seq == 6
    assert services.store.case(ids[1]).case_no == "2026000002"  # the number was never spent
