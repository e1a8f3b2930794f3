"""The hand-over container (`shared/handover.py`): what goes in comes out; anything damaged is a
coded refusal of the whole file, never a crash and never a silent half."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import GridsyncError
from shared.handover import (
    KIND_PHOTO,
    KIND_SEGMENT,
    HandoverEntry,
    HandoverLimits,
    read_handover,
    write_handover,
)


def _photo(data: bytes) -> HandoverEntry:
    return HandoverEntry(KIND_PHOTO, data, hashlib.sha256(data).hexdigest())


entries = st.lists(
    st.one_of(
        st.binary(max_size=300).map(lambda data: HandoverEntry(KIND_SEGMENT, data)),
        st.binary(max_size=300).map(_photo),
    ),
    max_size=8,
)


def _refused(blob: bytes, code: str | None = None) -> GridsyncError:
    with pytest.raises(GridsyncError) as caught:
        read_handover(blob)
    assert caught.value.code.startswith("segment.")
    if code:
        assert caught.value.code == code
    return caught.value


@given(entries)
def test_what_is_written_reads_back_the_same(written: list[HandoverEntry]) -> None:
    assert read_handover(write_handover(written)) == written


@given(entries.filter(bool), st.data())
def test_a_file_cut_anywhere_is_malformed(written: list[HandoverEntry], data: st.DataObject) -> None:
    blob = write_handover(written)
    cut = data.draw(st.integers(0, len(blob) - 1))
    _refused(blob[:cut], "segment.malformed")


@given(entries.filter(bool), st.data())
def test_a_flipped_byte_is_refused_or_reads_as_other_entries_never_a_crash(
    written: list[HandoverEntry], data: st.DataObject
) -> None:
    blob = bytearray(write_handover(written))
    at = data.draw(st.integers(0, len(blob) - 1))
    blob[at] ^= data.draw(st.integers(1, 255))
    try:
        read = read_handover(bytes(blob))
    except GridsyncError as exc:
        assert exc.code in ("segment.malformed", "segment.bad_version", "segment.too_large")
    else:  # the container has no checksum: a flip inside data is caught by the segment or photo check
        assert read != written


@given(entries.filter(bool))
def test_a_flip_in_the_structure_is_always_refused(written: list[HandoverEntry]) -> None:
    blob = write_handover(written)
    for at, code in ((0, "segment.malformed"), (4, "segment.bad_version"), (9, "segment.malformed")):
        damaged = bytearray(blob)
        damaged[at] ^= 0x40  # the magic, the version, the first entry's kind
        _refused(bytes(damaged), code)


def test_an_empty_file_and_a_foreign_file_are_malformed() -> None:
    _refused(b"", "segment.malformed")
    _refused(b"PK\x03\x04" + bytes(20), "segment.malformed")


def test_trailing_bytes_are_malformed() -> None:
    _refused(write_handover([HandoverEntry(KIND_SEGMENT, b"x")]) + b"\x00", "segment.malformed")


def test_more_entries_than_the_limit_are_too_large_before_any_is_read() -> None:
    blob = write_handover([HandoverEntry(KIND_SEGMENT, b"")] * 3)
    with pytest.raises(GridsyncError) as caught:
        read_handover(blob, HandoverLimits(max_entries=2))
    assert caught.value.code == "segment.too_large"
    assert len(read_handover(blob, HandoverLimits(max_entries=3))) == 3


def test_an_entry_over_its_kinds_limit_is_too_large() -> None:
    limits = HandoverLimits(max_segment_bytes=10, max_photo_bytes=20)
    assert read_handover(write_handover([HandoverEntry(KIND_SEGMENT, bytes(10)), _photo(bytes(20))]), limits)
    for entry in (HandoverEntry(KIND_SEGMENT, bytes(11)), _photo(bytes(21))):
        with pytest.raises(GridsyncError) as caught:
            read_handover(write_handover([entry]), limits)
        assert caught.value.code == "segment.too_large"


def test_a_huge_declared_length_is_refused_without_reading_it() -> None:
    blob = bytearray(write_handover([HandoverEntry(KIND_SEGMENT, b"abc")]))
    blob[10:14] = (2**32 - 1).to_bytes(4, "big")
    _refused(bytes(blob), "segment.malformed")


def test_the_writer_refuses_entries_it_cannot_write() -> None:
    with pytest.raises(ValueError):
        write_handover([HandoverEntry(KIND_PHOTO, b"x")])  # no sha256
    with pytest.raises(ValueError):
        write_handover([HandoverEntry(3, b"x")])
