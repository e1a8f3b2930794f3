"""Exactly once per device (rule 1): where an arriving segment stands in its device's sequence.

The server keeps, per device, the last applied sequence number and the hash of the last applied
segment, and the hash of every segment it applied. `place_segment` turns those values and an
arriving segment's header into one decision; the server acts on it in the same transaction that
records the new position. The phone never re-seals a sealed segment, so a resend is byte-identical.

A phone's outbox always drains. A segment held after a gap is force-applied once its wait (from when
the server first saw it) runs out; the numbers it skipped stay open, and a segment that arrives later
to fill them is applied then (`LATE`), op by op under the conflict rules, without moving the device's
position. Only a true fork — other content under numbers the server already applied, or a segment
that does not chain — is refused (`segment.fork`), with the place where the phone resumes: it re-seals
the ops from the fork on under new numbers after that place.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Placement(StrEnum):
    APPLY = "apply"  # the next segment in sequence, chained to the last one
    RESENT = "resent"  # already applied, same bytes: answer with the stored receipt
    CONFLICT = "conflict"  # same sequence numbers, different content: refuse and quarantine
    FORK = "fork"  # next in sequence but does not chain to what was applied: refuse and quarantine
    GAP = "gap"  # comes after a gap: hold in the backlog until the gap fills
    LATE = "late"  # fills numbers skipped by a forced apply: apply its ops, flagged late; position stays


@dataclass(frozen=True, slots=True)
class DevicePosition:
    last_seq: int  # 0 before the first segment
    last_hash: bytes  # GENESIS (32 zero bytes) before the first segment


def place_segment(
    position: DevicePosition,
    *,
    first_seq: int,
    last_seq: int,
    prev_hash: bytes,
    segment_hash: bytes,
    applied_hash: bytes | None,
    forced_gap: bool = False,
    skipped: bool = False,
) -> Placement:
    """Decide what to do with a segment.

    `applied_hash` is the hash of the segment the server applied with this same first sequence
    number, if any. `forced_gap` says the held segment's wait ran out: apply it across the gap
    (the server flags it); its chain link cannot be checked because the segment before it never came.
    `skipped` says no segment the server applied holds any of the numbers `first_seq..last_seq`:
    they were skipped when a later segment was forced across a gap.
    """
    if first_seq <= position.last_seq:
        if applied_hash == segment_hash:
            return Placement.RESENT
        return Placement.LATE if skipped and last_seq < position.last_seq else Placement.CONFLICT
    if first_seq > position.last_seq + 1:
        return Placement.APPLY if forced_gap else Placement.GAP
    if prev_hash != position.last_hash:
        return Placement.FORK
    return Placement.APPLY
