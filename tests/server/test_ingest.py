"""The overnight ingest over a spool folder: the same bytes as a POST, the same result."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from shared.errors import GridsyncError
from sync_server.ingest import (
    KIND_PHOTO,
    KIND_SEGMENT,
    HandoverEntry,
    read_handover,
    run_ingest,
    write_handover,
)
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
