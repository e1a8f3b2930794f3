"""The overnight ingest: apply every segment and hand-over file found in a spool folder.

Files: `*.seg` is one sealed segment (what `POST /v1/segments` carries, byte for byte); `*.gsho` is a
phone's offline hand-over file, a container of segments and photo blobs (format below). All headers
are read first, then each device's segments are applied in sequence order, each in its own
transaction. A file moves to `done/` or `rejected/` (with `<name>.reason.json`) only after all its
segments' transactions have committed, so the ingest is safe to stop and run again: a segment
already applied comes back `resent` and changes nothing.

Hand-over file format (version 1, all integers big-endian):

    magic   4 bytes  b"GSHO"
    version u8       1
    count   u32      number of entries
    entry × count:
        kind    u8       1 = segment, 2 = photo
        sha256  32 bytes only for a photo: the sha256 of its sealed blob (its content address)
        length  u32      byte length of the data
        data    length bytes: a sealed segment, or a sealed photo blob
"""

from __future__ import annotations

import json
import os
import struct
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from shared.envelope import read_header
from shared.errors import GridsyncError
from sync_server.services import Services

HANDOVER_MAGIC = b"GSHO"
HANDOVER_VERSION = 1
KIND_SEGMENT = 1
KIND_PHOTO = 2
MAX_HANDOVER_ENTRIES = 100_000
_HEAD = struct.Struct(">4sBI")
_LEN = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class HandoverEntry:
    kind: int
    data: bytes
    sha256: str | None = None  # photos only


def write_handover(entries: list[HandoverEntry]) -> bytes:
    """The container a phone writes (here for tests and as the format's reference)."""
    parts = [_HEAD.pack(HANDOVER_MAGIC, HANDOVER_VERSION, len(entries))]
    for entry in entries:
        parts.append(bytes([entry.kind]))
        if entry.kind == KIND_PHOTO:
            assert entry.sha256 is not None
            parts.append(bytes.fromhex(entry.sha256))
        parts.append(_LEN.pack(len(entry.data)))
        parts.append(entry.data)
    return b"".join(parts)


def read_handover(blob: bytes, max_entry_bytes: int = 64 * 1024 * 1024) -> list[HandoverEntry]:
    """Parse a hand-over file; a damaged one is `segment.malformed` as a whole."""
    if len(blob) < _HEAD.size:
        raise GridsyncError("segment.malformed", "hand-over file cut short")
    magic, version, count = _HEAD.unpack_from(blob)
    if magic != HANDOVER_MAGIC:
        raise GridsyncError("segment.malformed", "not a hand-over file")
    if version != HANDOVER_VERSION:
        raise GridsyncError("segment.bad_version", f"hand-over version {version}")
    if count > MAX_HANDOVER_ENTRIES:
        raise GridsyncError("segment.too_many_ops", f"{count} entries")
    entries: list[HandoverEntry] = []
    at = _HEAD.size
    for _ in range(count):
        if at >= len(blob) or blob[at] not in (KIND_SEGMENT, KIND_PHOTO):
            raise GridsyncError("segment.malformed", f"bad entry at byte {at}")
        kind = blob[at]
        at += 1
        sha = None
        if kind == KIND_PHOTO:
            sha = blob[at : at + 32].hex()
            at += 32
        if at + _LEN.size > len(blob):
            raise GridsyncError("segment.malformed", "hand-over file cut short")
        (length,) = _LEN.unpack_from(blob, at)
        at += _LEN.size
        if length > max_entry_bytes or at + length > len(blob):
            raise GridsyncError("segment.malformed", f"entry at byte {at} runs past the end")
        entries.append(HandoverEntry(kind, blob[at : at + length], sha))
        at += length
    if at != len(blob):
        raise GridsyncError("segment.malformed", "trailing bytes after the last entry")
    return entries


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
    received_at: int
    pending: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    accepted: int = 0


@dataclass(frozen=True, slots=True)
class _Unit:
    device_id: str
    first_seq: int
    file: _SpoolFile
    index: int  # entry index in a hand-over file; 0 for a .seg file


def _segments_of(spool_file: _SpoolFile, services: Services, summary: Summary) -> list[bytes]:
    blob = spool_file.path.read_bytes()
    if spool_file.path.suffix == ".seg":
        return [blob]
    segments = []
    for entry in read_handover(blob, services.config.max_photo_bytes):
        if entry.kind == KIND_SEGMENT:
            segments.append(entry.data)
        elif entry.sha256 is not None and services.photos.store_whole(entry.sha256, entry.data):
            summary.photos += 1
        else:
            spool_file.problems.append({"photo": entry.sha256, "code": "photo.hash_mismatch"})
    return segments


def _index(services: Services, files: list[_SpoolFile], summary: Summary) -> list[_Unit]:
    units: list[_Unit] = []
    for spool_file in files:
        try:
            segments = _segments_of(spool_file, services, summary)
        except (GridsyncError, OSError) as exc:
            spool_file.problems.append(_problem(exc))
            continue
        for index, blob in enumerate(segments):
            try:
                header = read_header(blob, services.config.limits)
            except GridsyncError as exc:
                spool_file.problems.append({"entry": index, **_problem(exc)})
                summary.segments["rejected"] += 1
                continue
            units.append(_Unit(header.device_id, header.first_seq, spool_file, index))
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
    services: Services, spool: Path, *, progress: bool = True, console: Console | None = None
) -> Summary:
    started = time.perf_counter()
    summary = Summary()
    paths = sorted(
        p
        for p in spool.iterdir()
        if p.is_file() and p.suffix in (".seg", ".gsho") and not p.name.startswith(".")
    )
    files = [_SpoolFile(p, int(p.stat().st_mtime)) for p in paths]
    summary.files = len(files)
    units = _index(services, files, summary)
    for spool_file in files:
        if spool_file.pending == 0:
            _finish(spool, spool_file)
    with Progress(disable=not progress, console=console, transient=True) as bar:
        task = bar.add_task("ingest", total=len(units))
        cache: dict[Path, list[bytes]] = {}
        for unit in units:
            _apply(services, unit, summary, cache)
            bar.advance(task)
            unit.file.pending -= 1
            if unit.file.pending == 0:
                _finish(spool, unit.file)
    summary.forced = services.reconciler.sweep_backlog(services.clock())
    summary.seconds = time.perf_counter() - started
    if progress or console is not None:
        (console or Console()).print(summary_table(summary))
    return summary


def _apply(services: Services, unit: _Unit, summary: Summary, cache: dict[Path, list[bytes]]) -> None:
    blob = _segments_of_unit(unit, services, cache)
    try:
        receipt = services.reconciler.apply_segment(blob, unit.file.received_at, services.clock())
    except GridsyncError as exc:
        summary.segments["rejected"] += 1
        unit.file.problems.append({"entry": unit.index, "first_seq": unit.first_seq, **_problem(exc)})
        return
    unit.file.accepted += 1
    summary.segments[receipt["status"]] += 1
    if receipt["status"] == "applied":
        summary.ops.update(o["outcome"] for o in receipt["outcomes"])


def _segments_of_unit(unit: _Unit, services: Services, cache: dict[Path, list[bytes]]) -> bytes:
    """The unit's bytes. A hand-over file's segments are usually consecutive in the sorted order
    (one phone, one file), so the last file parsed is kept: read once, not once per segment."""
    if unit.file.path.suffix == ".seg":
        return unit.file.path.read_bytes()
    segments = cache.get(unit.file.path)
    if segments is None:
        cache.clear()
        entries = read_handover(unit.file.path.read_bytes(), services.config.max_photo_bytes)
        segments = cache[unit.file.path] = [e.data for e in entries if e.kind == KIND_SEGMENT]
    return segments[unit.index]


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
