"""Exactly once per device: where a segment stands in its device's sequence."""

from __future__ import annotations

from shared.ledger import DevicePosition, Placement, place_segment

H0, H1, H2 = bytes(32), b"\x01" * 32, b"\x02" * 32


def place(position, first, last, prev, h, applied=None, forced=False):
    return place_segment(
        position,
        first_seq=first,
        last_seq=last,
        prev_hash=prev,
        segment_hash=h,
        applied_hash=applied,
        forced_gap=forced,
    )


def test_the_first_segment_chains_to_genesis_and_applies():
    assert place(DevicePosition(0, H0), 1, 10, H0, H1) is Placement.APPLY


def test_the_next_segment_applies_only_if_it_chains_to_the_last():
    pos = DevicePosition(10, H1)
    assert place(pos, 11, 20, H1, H2) is Placement.APPLY
    assert place(pos, 11, 20, H2, H2) is Placement.FORK


def test_a_resend_of_an_applied_segment_is_recognised_by_its_hash():
    pos = DevicePosition(20, H2)
    assert place(pos, 11, 20, H1, H2, applied=H2) is Placement.RESENT
    assert place(pos, 11, 20, H1, b"\x03" * 32, applied=H2) is Placement.CONFLICT


def test_a_segment_overlapping_what_was_applied_with_other_content_is_a_conflict():
    assert place(DevicePosition(20, H2), 15, 25, H1, b"\x04" * 32) is Placement.CONFLICT


def test_a_segment_after_a_gap_is_held_until_the_wait_runs_out():
    pos = DevicePosition(10, H1)
    assert place(pos, 21, 30, H2, b"\x05" * 32) is Placement.GAP
    assert place(pos, 21, 30, H2, b"\x05" * 32, forced=True) is Placement.APPLY


def test_numbers_a_forced_apply_skipped_are_filled_late_and_other_content_under_applied_numbers_is_a_conflict():
    pos = DevicePosition(10, H1)  # 4..7 were skipped when 8..10 was forced across the gap

    def placed(first: int, last: int, skipped: bool, applied: bytes | None = None) -> Placement:
        return place_segment(
            pos, first_seq=first, last_seq=last, prev_hash=H0, segment_hash=H2, applied_hash=applied,
            skipped=skipped,
        )  # fmt: skip

    assert placed(4, 7, skipped=True) is Placement.LATE
    assert placed(4, 7, skipped=True, applied=H2) is Placement.RESENT
    assert placed(4, 9, skipped=False) is Placement.CONFLICT
    assert placed(1, 3, skipped=False, applied=H1) is Placement.CONFLICT
    assert placed(9, 12, skipped=True) is Placement.CONFLICT  # reaches past the position: not a gap's
