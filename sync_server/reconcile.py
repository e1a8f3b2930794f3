"""The reconcile service: a sealed segment in, a receipt out (rule 1, exactly once per device).

Order of work for `apply_segment`, cheapest and safest first: read the header (structure only) →
the device (unknown, revoked) → its signature, before anything is decrypted → decrypt and
decompress within limits → validate every op (one bad op refuses the whole segment) → place the
segment in the device's sequence and apply it, all in ONE transaction with the device's new
position and the stored receipt → after commit, try the device's backlog.

Refusals raise `GridsyncError`. Only one refusal writes anything: a true fork (other content under
numbers already applied, or a segment that does not chain) is quarantined (committed) before
`segment.fork` is raised, with where the phone resumes (`next_seq`, `prev_hash`) in its context.

Time received is the server's: `received_at` is when the server first saw the segment (recorded per
device, first sequence number and hash; kept while it waits in the backlog), never a file's time.
A segment filling numbers that a forced apply skipped is applied late (`shared.ledger.Placement.LATE`).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import Any

from shared.envelope import SegmentHeader, open_segment_keyring, read_header, segment_hash, verify_segment
from shared.errors import GridsyncError
from shared.ledger import DevicePosition, Placement, place_segment
from shared.ops import Op, decode_ops
from shared.rules import is_overdue
from sync_server.casework import Batch, apply_ops
from sync_server.changes import server_position
from sync_server.city import CityCache
from sync_server.config import ServerConfig
from sync_server.keys import ServerKeys
from sync_server.metrics import GridsyncMetrics, gridsync_metrics
from sync_server.store.base import DeviceRecord, HeldSegment, QuarantineRecord, Store, Transaction


@dataclass(frozen=True, slots=True)
class Opened:
    device: DeviceRecord
    header: SegmentHeader
    ops: list[Op]


class Tally:
    """Counts segments by status and ops by outcome into the server's metrics."""

    def __init__(self, metrics: GridsyncMetrics | None = None) -> None:
        self.metrics = metrics or gridsync_metrics()

    def count(self, receipt: dict[str, Any]) -> None:
        self.metrics.segments.inc(status=receipt["status"])
        if receipt["status"] == "applied":
            for outcome, n in Counter(o["outcome"] for o in receipt["outcomes"]).items():
                self.metrics.ops.inc(n, outcome=outcome)


def _receipt(header: SegmentHeader, status: str, outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "device_id": header.device_id,
        "first_seq": header.first_seq,
        "last_seq": header.last_seq,
        "status": status,
        "outcomes": outcomes,
    }


class Reconciler:
    def __init__(
        self,
        store: Store,
        config: ServerConfig,
        keys: ServerKeys,
        cities: CityCache,
        metrics: GridsyncMetrics | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.keys = keys
        self._keyring = keys.keyring()
        self.cities = cities
        self.tally = Tally(metrics)

    # --- the entry point ------------------------------------------------------------------------
    def apply_segment(
        self,
        blob: bytes,
        received_at: int,
        now: int,
        *,
        signed_by: str | None = None,
        queue: bool = False,
        known: DeviceRecord | None = None,
    ) -> dict[str, Any]:
        """Reconcile one sealed segment, or (queue=True) spool it for the overnight ingest. The
        receipt also tells the device where the server stands for it (`changes.server_position`).
        `known`: the signing device's record as the request's check read it, in this thread, just
        before (not read again; its checks here still apply)."""
        try:
            receipt = self._apply_segment(
                blob, received_at, now, signed_by=signed_by, queue=queue, known=known
            )
        except GridsyncError as exc:
            self.tally.count({"status": exc.code})
            raise
        return {**receipt, **server_position(self.store, receipt["device_id"])}

    def _apply_segment(
        self,
        blob: bytes,
        received_at: int,
        now: int,
        *,
        signed_by: str | None,
        queue: bool,
        known: DeviceRecord | None,
    ) -> dict[str, Any]:
        device = self._device_of(blob, signed_by, known)
        if queue:
            header = verify_segment(blob, device.signing_key, self.config.limits)
            with self.store.transaction() as tx:  # the wait of a held segment runs from now
                tx.first_seen(header.device_id, header.first_seq, segment_hash(blob), received_at)
            self._spool(blob, header)
            receipt = _receipt(header, "queued", [])
        else:
            opened = self._open(blob, device)
            receipt = self._settle(opened, blob, received_at, now, forced=False)
        self.tally.count(receipt)
        if receipt["status"] in ("applied", "held"):
            self.drain_backlog(device.device_id, now)
        return receipt

    def refuse(self, error: GridsyncError) -> GridsyncError:
        """Count a refusal made outside `apply_segment` (the ingest's workers); returns it to raise."""
        self.tally.count({"status": error.code})
        return error

    def apply_opened(self, opened: Opened, blob: bytes, received_at: int, now: int) -> dict[str, Any]:
        """Reconcile a segment already verified, opened and validated elsewhere (the ingest's worker
        process, with the device key it was given). The device is checked again here, at apply time:
        a device revoked meanwhile is refused."""
        try:
            device = self._device(opened.header.device_id, None)
            if device.signing_key != opened.device.signing_key:
                raise GridsyncError("segment.bad_signature", "the device's key changed")
            receipt = self._settle(
                Opened(device, opened.header, opened.ops), blob, received_at, now, forced=False
            )
        except GridsyncError as exc:
            self.tally.count({"status": exc.code})
            raise
        self.tally.count(receipt)
        if receipt["status"] in ("applied", "held"):
            self.drain_backlog(device.device_id, now)
        return receipt

    def _device_of(
        self, blob: bytes, signed_by: str | None, known: DeviceRecord | None = None
    ) -> DeviceRecord:
        return self._device(read_header(blob, self.config.limits).device_id, signed_by, known)

    def _device(
        self, device_id: str, signed_by: str | None, known: DeviceRecord | None = None
    ) -> DeviceRecord:
        device = known if known is not None and known.device_id == device_id else self.store.device(device_id)
        if device is None:
            raise GridsyncError("device.unknown", device_id)
        if device.revoked_at is not None:
            raise GridsyncError("device.revoked", device_id)
        if signed_by is not None and signed_by != device.device_id:
            raise GridsyncError("segment.wrong_device", "the request and the segment name different devices")
        return device

    def _open(self, blob: bytes, device: DeviceRecord) -> Opened:
        header, plain = open_segment_keyring(
            blob,
            device_public_raw=device.signing_key,
            server_keys=self._keyring,
            limits=self.config.limits,
        )
        ops = decode_ops(plain, device_id=header.device_id, first_seq=header.first_seq, count=header.op_count)
        return Opened(device, header, ops)

    def _spool(self, blob: bytes, header: SegmentHeader) -> None:
        spool = self.config.spool_dir
        spool.mkdir(parents=True, exist_ok=True)
        name = f"{header.device_id}-{header.first_seq:012d}-{segment_hash(blob).hex()[:12]}.seg"
        tmp = spool / f".{name}.tmp"
        tmp.write_bytes(blob)
        os.replace(tmp, spool / name)

    # --- one transaction per segment ---------------------------------------------------------------
    def _settle(
        self, opened: Opened, blob: bytes, received_at: int, now: int, *, forced: bool
    ) -> dict[str, Any]:
        header, device = opened.header, opened.device
        digest = segment_hash(blob)
        refusal: GridsyncError | None = None
        with self.store.transaction() as tx:
            position = tx.lock_device(device.device_id)
            applied = tx.applied_segment(device.device_id, header.first_seq)
            applied_hash = None if applied is None else applied[0]
            behind = header.first_seq <= position.last_seq and applied_hash != digest
            device_id = device.device_id
            skipped = behind and not tx.applied_overlapping(device_id, header.first_seq, header.last_seq)
            placement = place_segment(
                position,
                first_seq=header.first_seq,
                last_seq=header.last_seq,
                prev_hash=header.prev_hash,
                segment_hash=digest,
                applied_hash=applied_hash,
                forced_gap=forced,
                skipped=skipped,
            )
            if placement is Placement.RESENT and applied is not None:
                return {**applied[1], "status": "resent"}
            received_at = tx.first_seen(device.device_id, header.first_seq, digest, received_at)
            if placement is Placement.GAP:
                held = HeldSegment(
                    device.device_id, header.first_seq, header.last_seq, digest, blob, received_at
                )
                if tx.hold_segment(held) or self._held_hash(tx, held) == digest:
                    return _receipt(header, "held", [])
                placement = Placement.CONFLICT
            if placement in (Placement.CONFLICT, Placement.FORK):
                tx.quarantine_segment(
                    QuarantineRecord(
                        device.device_id, header.first_seq, header.last_seq, digest, "segment.fork", received_at,
                        blob,
                    )
                )  # fmt: skip
                why = "other content under numbers already applied" if placement is Placement.CONFLICT else (
                    "does not chain to the last segment applied"
                )  # fmt: skip
                refusal = GridsyncError(
                    "segment.fork",
                    f"seq {header.first_seq}-{header.last_seq}: {why}",
                    context=self._resume_point(tx, device.device_id, position),
                )
            else:
                late = placement is Placement.LATE
                receipt = self._apply(
                    tx, opened, digest, received_at, now, flags="late" if late else "forced" if forced else ""
                )
        if refusal is not None:
            raise refusal
        return receipt

    @staticmethod
    def _resume_point(tx: Transaction, device_id: str, position: DevicePosition) -> dict[str, Any]:
        """Where a forked phone resumes: after everything the server applied or holds of it."""
        held = tx.held_segments(device_id)
        if held and held[-1].last_seq > position.last_seq:
            return {"next_seq": held[-1].last_seq + 1, "prev_hash": held[-1].segment_hash.hex()}
        return {"next_seq": position.last_seq + 1, "prev_hash": position.last_hash.hex()}

    @staticmethod
    def _held_hash(tx: Transaction, held: HeldSegment) -> bytes | None:
        same = [h for h in tx.held_segments(held.device_id) if h.first_seq == held.first_seq]
        return same[0].segment_hash if same else None

    def _apply(
        self, tx: Transaction, opened: Opened, digest: bytes, received_at: int, now: int, *, flags: str
    ) -> dict[str, Any]:
        """Apply a segment's ops (each gets its own outcome) and record it. `flags`: "" in sequence,
        "forced" across a gap (the position jumps), "late" into numbers a forced apply skipped (the
        position stays where it is: the chain goes on from the forced segment)."""
        header, device = opened.header, opened.device
        worker = tx.worker(device.worker_id)  # never `self.store` while `tx` is open
        if worker is None:  # enrollment guarantees a worker; a hand-edited database might not
            raise GridsyncError("device.unknown", f"no worker {device.worker_id!r}")
        city = self.cities.get(tx)
        batch = Batch(
            device.device_id, worker.actor(), received_at, now, city.calendar.utc_offset_minutes, flags,
        )  # fmt: skip
        applied = apply_ops(tx, opened.ops, batch, city.rule_context(now))
        receipt = _receipt(header, "applied", [o.to_dict() for o in applied.outcomes])
        tx.record_applied_segment(
            device.device_id, header.first_seq, header.last_seq, digest, applied.changes
        )
        if flags == "late":
            receipt["late"] = True
        else:
            tx.set_device_position(device.device_id, header.last_seq, digest)
        return receipt

    # --- the backlog -------------------------------------------------------------------------------
    def drain_backlog(self, device_id: str, now: int) -> int:
        """Apply held segments that now fit, in order; force the oldest across a gap once it has
        waited `backlog_force_after_s`. Returns how many were applied."""
        applied = 0
        while self.store.has_held(device_id):
            with self.store.transaction() as tx:
                held = tx.held_segments(device_id)
                position = tx.lock_device(device_id)
            if not held:
                return applied
            nxt = held[0]
            forced = nxt.first_seq > position.last_seq + 1
            if forced and now - nxt.received_at < self.config.backlog_force_after_s:
                return applied
            if self._apply_held(nxt, now, forced=forced):
                applied += 1
        return applied

    def _apply_held(self, held: HeldSegment, now: int, *, forced: bool) -> bool:
        try:
            device = self._device_of(held.blob, None)
            opened = self._open(held.blob, device)
            receipt = self._settle(opened, held.blob, held.received_at, now, forced=forced)
        except GridsyncError as exc:
            with self.store.transaction() as tx:
                tx.release_held(held.device_id, held.first_seq)
                if exc.code != "segment.fork":  # a fork is quarantined already
                    tx.quarantine_segment(
                        QuarantineRecord(held.device_id, held.first_seq, held.last_seq, held.segment_hash, exc.code,
                                         held.received_at, held.blob)
                    )  # fmt: skip
            return False
        with self.store.transaction() as tx:
            tx.release_held(held.device_id, held.first_seq)
        self.tally.count(receipt)
        return bool(receipt["status"] == "applied")

    def sweep_backlog(self, now: int) -> int:
        """Drain every device whose backlog holds something (ingest calls this at the end)."""
        return sum(self.drain_backlog(device_id, now) for device_id in self.store.backlog_devices(now + 1))

    # --- overdue flags -----------------------------------------------------------------------------
    def sweep_overdue(self, now: int) -> int:
        """Set the overdue flag on open cases past their deadline in working time (the city's
        calendar: due Friday 17:30 is not overdue on Saturday); each gets a new change number so
        phones see it. The version does not move: overdue is a computed flag, not a change."""
        calendar = self.cities.get().calendar
        with self.store.transaction() as tx:
            due = [case for case in tx.cases_due_before(now) if is_overdue(case, now, calendar)]
            if not due:
                return 0
            first = tx.reserve_change_seqs(len(due))
            for case in due:
                case.overdue = True
            tx.save_cases([(case, first + i) for i, case in enumerate(due)])
        return len(due)
