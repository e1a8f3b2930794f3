"""Exactly once per device (rule 1): where an arriving segment stands in its device's sequence.

The server keeps, per device, the last applied sequence number and the hash of the last applied
segment, and the hash of every segment it applied. `place_segment` turns those values and an
arriving segment's header into one decision; the server acts on it in the same transaction that
records the new position. The phone never re-seals a sealed segment, so a resend is byte-identical.
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
) -> Placement:
    """Decide what to do with a segment.

    `applied_hash` is the hash of the segment the server applied with this same first sequence
    number, if any. `forced_gap` says the held segment's wait ran out: apply it across the gap
    (the server flags it); its chain link cannot be checked because the segment before it never came.
    """
    if first_seq <= position.last_seq:
        return Placement.RESENT if applied_hash == segment_hash else Placement.CONFLICT
    if first_seq > position.last_seq + 1:
        return Placement.APPLY if forced_gap else Placement.GAP
    if prev_hash != position.last_hash:
        return Placement.FORK
    return Placement.APPLY
