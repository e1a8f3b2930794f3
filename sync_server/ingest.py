"""The overnight ingest: apply every segment and hand-over file found in a spool folder.

Files: `*.seg` is one sealed segment (what `POST /v1/segments` carries, byte for byte); `*.gsho` is a
phone's offline hand-over file, a container of segments and photo blobs (`shared/handover.py`).

Two cores: all headers are read first and each device's segments put in sequence order; then
worker processes (`unsealer`) verify, decrypt, decompress and validate segments a little ahead of
the main process, which applies them. Memory stays flat: only a bounded window of segments is in
flight. Applying commits in groups: each segment is a savepoint (its ops, its cases, the device's
new position and its receipt, all or nothing), and a group of segments shares one commit, which
is where SQLite spends its time. A segment refused inside a group rolls back alone.

A file moves to `done/` or `rejected/` (with `<name>.reason.json`) only after the group holding
its last segment has committed, so the ingest is safe to stop and run again: a segment already
applied comes back `resent` and changes nothing.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from shared.envelope import SEGMENT_HEADER_LEN, SegmentHeader, read_header
from shared.errors import GridsyncError
from shared.handover import (
    KIND_PHOTO,
    KIND_SEGMENT,
    HandoverEntry,
    HandoverLimits,
    read_handover,
    write_handover,
)
from sync_server.config import ServerConfig
from sync_server.reconcile import Opened
from sync_server.services import Services
from sync_server.store.base import DeviceRecord
from sync_server.unsealer import Task, Unsealed, Unsealer

__all__ = [
    "KIND_PHOTO",
    "KIND_SEGMENT",
    "HandoverEntry",
    "Summary",
    "read_handover",
    "run_ingest",
    "summary_table",
    "write_handover",
]

GROUP_SEGMENTS = 256  # segments per commit
GROUP_SECONDS = 0.5  # ... or fewer, so a server writing beside the ingest never waits long


def handover_limits(config: ServerConfig) -> HandoverLimits:
    return HandoverLimits(max_segment_bytes=config.max_segment_bytes, max_photo_bytes=config.max_photo_bytes)


# --- the run ------------------------------------------------------------------------------------------


@dataclass
class Summary:
    files: int = 0
    segments: Counter[str] = field(default_factory=Counter)
    ops: Counter[str] = field(default_factory=Counter)
    photos: int = 0
    forced: int = 0
    seconds: float = 0.0

    @property
    def rejected(self) -> int:
        return self.segments["rejected"]


@dataclass
class _SpoolFile:
    path: Path
    received_at: int  # when this run first saw the file, on the server's clock (never the file's mtime)
    pending: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    accepted: int = 0


@dataclass(frozen=True, slots=True)
class _Unit:
    device_id: str
    first_seq: int
    file: _SpoolFile
    index: int  # the segment's index among a hand-over file's segments; -1 for a .seg file


def _segments_of(spool_file: _SpoolFile, services: Services, summary: Summary) -> list[bytes]:
    """A hand-over file's segments; its photos are stored on the way."""
    blob = spool_file.path.read_bytes()
    segments = []
    for entry in read_handover(blob, handover_limits(services.config)):
        if entry.kind == KIND_SEGMENT:
            segments.append(entry.data)
        elif entry.sha256 is not None and services.photos.store_whole(entry.sha256, entry.data):
            summary.photos += 1
        else:
            spool_file.problems.append({"photo": entry.sha256, "code": "photo.hash_mismatch"})
    return segments


def _headers_of(
    spool_file: _SpoolFile, services: Services, summary: Summary
) -> list[SegmentHeader | GridsyncError]:
    """Each segment's header, or why it has none. A `.seg` file's header is read alone (its first
    bytes and its size): the unsealer reads the whole file when its turn comes."""
    limits = services.config.limits
    if spool_file.path.suffix == ".seg":
        with spool_file.path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            first = f.read(SEGMENT_HEADER_LEN)
        blobs = [(first, size)]
    else:
        blobs = [(blob, len(blob)) for blob in _segments_of(spool_file, services, summary)]
    found: list[SegmentHeader | GridsyncError] = []
    for blob, size in blobs:
        try:
            found.append(read_header(blob, limits, size=size))
        except GridsyncError as exc:
            found.append(exc)
    return found


def _index(services: Services, files: list[_SpoolFile], summary: Summary) -> list[_Unit]:
    units: list[_Unit] = []
    for spool_file in files:
        try:
            headers = _headers_of(spool_file, services, summary)
        except (GridsyncError, OSError) as exc:
            spool_file.problems.append(_problem(exc))
            continue
        except Exception as exc:  # never die on one file
            spool_file.problems.append({"code": "server.internal", "detail": f"{type(exc).__name__}: {exc}"})
            continue
        for index, header in enumerate(headers):
            if isinstance(header, GridsyncError):
                spool_file.problems.append({"entry": index, **_problem(header)})
                summary.segments["rejected"] += 1
                continue
            entry = -1 if spool_file.path.suffix == ".seg" else index
            units.append(_Unit(header.device_id, header.first_seq, spool_file, entry))
            spool_file.pending += 1
    units.sort(key=lambda u: (u.device_id, u.first_seq, u.file.path.name))
    return units


def _problem(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, GridsyncError):
        return {"code": exc.code, "detail": exc.detail}
    return {"code": "request.malformed", "detail": str(exc)}


def _finish(spool: Path, spool_file: _SpoolFile) -> None:
    """Move the file once all its segments are settled; explain any refusal beside it."""
    rejected = bool(spool_file.problems) and spool_file.accepted == 0
    target = spool / ("rejected" if rejected else "done")
    target.mkdir(exist_ok=True)
    if spool_file.problems:
        reason = target / f"{spool_file.path.name}.reason.json"
        reason.write_text(json.dumps({"problems": spool_file.problems}, indent=2) + "\n", "utf-8")
    os.replace(spool_file.path, target / spool_file.path.name)


def run_ingest(
    services: Services,
    spool: Path,
    *,
    progress: bool = True,
    console: Console | None = None,
    workers: int = 1,
) -> Summary:
    """Apply a spool folder. `workers` processes open segments beside this one (0: all in-process)."""
    started = time.perf_counter()
    summary = Summary()
    paths = sorted(
        p
        for p in spool.iterdir()
        if p.is_file() and p.suffix in (".seg", ".gsho") and not p.name.startswith(".")
    )
    # A file's times are the copier's (cp -p, rsync -a, a phone's wrong clock): the server's clock says
    # when it arrived. A segment seen before (queued over HTTP, held by an earlier run) keeps that
    # first sight (`Transaction.first_seen`), which the backlog's wait is measured from.
    seen = services.clock()
    files = [_SpoolFile(p, seen) for p in paths]
    summary.files = len(files)
    units = _index(services, files, summary)
    for spool_file in files:
        if spool_file.pending == 0:
            _finish(spool, spool_file)
    devices: dict[str, DeviceRecord | None] = {}
    unsealer = Unsealer(
        services.keys.encryption_raws(), services.config.limits, handover_limits(services.config),
        workers=workers,
    )  # fmt: skip
    tasks = (
        Task(number, str(unit.file.path), unit.index, _key(services, devices, unit.device_id))
        for number, unit in enumerate(units)
    )
    with (
        Progress(disable=not progress, console=console, transient=True) as bar,
        closing(unsealer.run(tasks)) as out,
    ):
        task = bar.add_task("ingest", total=len(units))
        pending = iter(units)
        while _apply_group(services, spool, pending, out, devices, summary):
            bar.update(task, completed=sum(summary.segments.values()))
    summary.forced = services.reconciler.sweep_backlog(services.clock())
    summary.seconds = time.perf_counter() - started
    _count(services, summary)
    if progress or console is not None:
        (console or Console()).print(summary_table(summary))
    return summary


def _count(services: Services, summary: Summary) -> None:
    """The run in the server's metrics (a running `serve` shows it: `metrics.join_shared_dir`)."""
    metrics = services.metrics
    metrics.ingest_runs.inc()
    metrics.ingest_files.inc(summary.files)
    metrics.ingest_rejects.inc(summary.rejected)
    metrics.ingest_seconds.inc(summary.seconds)
    for outcome, count in summary.ops.items():
        metrics.ingest_ops.inc(count, outcome=outcome)


def _key(services: Services, devices: dict[str, DeviceRecord | None], device_id: str) -> bytes | None:
    """The key a worker verifies with; None (unknown or revoked) leaves the refusal to the main process."""
    if device_id not in devices:
        device = services.store.device(device_id)
        devices[device_id] = device if device is not None and device.revoked_at is None else None
    found = devices[device_id]
    return None if found is None else found.signing_key


def _apply_group(
    services: Services, spool: Path, pending: Any, out: Any, devices: dict[str, DeviceRecord | None],
    summary: Summary,
) -> bool:  # fmt: skip
    """Apply up to a group of segments under one commit; then move the files they completed.
    False when nothing was left."""
    finished: list[_SpoolFile] = []
    applied = 0
    with services.store.group():
        until = time.perf_counter() + GROUP_SECONDS
        for unit in pending:
            _apply(services, unit, next(out), devices, summary)
            unit.file.pending -= 1
            if unit.file.pending == 0:
                finished.append(unit.file)
            applied += 1
            if applied == GROUP_SEGMENTS or time.perf_counter() > until:
                break
    for spool_file in finished:
        _finish(spool, spool_file)
    return applied > 0


def _apply(
    services: Services,
    unit: _Unit,
    result: Unsealed,
    devices: dict[str, DeviceRecord | None],
    summary: Summary,
) -> None:
    reconciler = services.reconciler
    try:
        device = devices.get(unit.device_id)
        if result.code:
            raise reconciler.refuse(GridsyncError(result.code, result.detail))
        if result.header is None or device is None:  # not opened in a worker: the whole way here
            receipt = reconciler.apply_segment(result.blob, unit.file.received_at, services.clock())
        else:
            opened = Opened(device, result.header, result.op_list())
            receipt = reconciler.apply_opened(opened, result.blob, unit.file.received_at, services.clock())
    except GridsyncError as exc:
        summary.segments["rejected"] += 1
        unit.file.problems.append({"entry": max(unit.index, 0), "first_seq": unit.first_seq, **_problem(exc)})
        return
    except Exception as exc:  # never die on one file: its segment rolled back alone; set it aside
        summary.segments["rejected"] += 1
        problem = {"code": "server.internal", "detail": f"{type(exc).__name__}: {exc}"}
        unit.file.problems.append({"entry": max(unit.index, 0), "first_seq": unit.first_seq, **problem})
        reconciler.refuse(GridsyncError("server.internal"))
        return
    unit.file.accepted += 1
    summary.segments[receipt["status"]] += 1
    if receipt["status"] == "applied":
        summary.ops.update(o["outcome"] for o in receipt["outcomes"])


def summary_table(summary: Summary) -> Table:
    table = Table(title="ingest")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("files", str(summary.files))
    for status in ("applied", "resent", "held", "rejected"):
        table.add_row(f"segments {status}", str(summary.segments[status]))
    table.add_row("held segments applied at the end", str(summary.forced))
    for outcome, count in sorted(summary.ops.items()):
        table.add_row(f"ops {outcome}", str(count))
    table.add_row("photos", str(summary.photos))
    table.add_row("seconds", f"{summary.seconds:.2f}")
    return table
