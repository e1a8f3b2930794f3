"""Op validation: every malformed op is refused with a stable code."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import GridsyncError
from shared.ops import decode_ops, encode_ops, validate_op
from tests.shared.factories import DEV_1, OpMaker, new_id


def good() -> dict:
    return OpMaker(DEV_1, "zhang.wei").create(new_id()).to_dict()


def refused(obj) -> str:
    with pytest.raises(GridsyncError) as info:
        validate_op(obj)
    return info.value.code


def test_a_valid_op_round_trips_through_the_segment_encoding():
    maker = OpMaker(DEV_1, "zhang.wei")
    case_id = new_id()
    ops = [maker.create(case_id), maker.note(case_id), maker.photo(case_id, "before")]
    assert decode_ops(encode_ops(ops), device_id=DEV_1, first_seq=1, count=3) == ops


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"kind": "delete"}, "op.unknown_kind"),
        ({"seq": 0}, "op.bad_field"),
        ({"seq": True}, "op.bad_field"),
        ({"op_id": "xyz"}, "op.bad_field"),
        ({"actor": "Zhang Wei"}, "op.bad_field"),
        ({"base_version": -1}, "op.bad_field"),
        ({"payload": []}, "op.malformed"),
        ({"extra": 1}, "op.malformed"),
    ],
)
def test_bad_envelope_fields_are_refused(change, code):
    assert refused({**good(), **change}) == code


@pytest.mark.parametrize("field", ["op_id", "case_id", "device_id", "actor"])
@pytest.mark.parametrize("tail", ["\n", "\r\n", " "])
def test_an_id_with_anything_after_it_is_refused(field, tail):
    """A pattern with `$` also matches before a final newline: the whole value must match."""
    op = good()
    assert refused({**op, field: op[field] + tail}) == "op.bad_field"


def test_a_payload_code_with_a_newline_after_it_is_refused():
    op = good()
    assert refused({**op, "payload": {**op["payload"], "category": op["payload"]["category"] + "\n"}}) == (
        "op.bad_field"
    )


@pytest.mark.parametrize(
    "payload",
    [
        {"category": "01", "location": {"lat": 1, "lon": 1, "accuracy_m": 1, "source": "gps"}},
        {"category": "0101", "location": {"lat": 91, "lon": 1, "accuracy_m": 1, "source": "gps"}},
        {"category": "0101", "location": {"lat": 1, "lon": 1, "accuracy_m": 1, "source": "guess"}},
        {"category": "0101", "location": {"lat": float("nan"), "lon": 1, "accuracy_m": 1, "source": "gps"}},
        {"category": "0101"},
        {
            "category": "0101",
            "location": {"lat": 1, "lon": 1, "accuracy_m": 1, "source": "gps"},
            "description": "x" * 2001,
        },
        {
            "category": "0101",
            "location": {"lat": 1, "lon": 1, "accuracy_m": 1, "source": "gps"},
            "on_spot": "yes",
        },
        {
            "category": "0101",
            "location": {"lat": 1, "lon": 1, "accuracy_m": 1, "source": "gps"},
            "status": "closed",
        },
    ],
)
def test_bad_create_payloads_are_refused(payload):
    assert refused({**good(), "payload": payload}) == "op.bad_field"


def test_an_edit_may_not_touch_status_or_version():
    obj = {**good(), "kind": "edit", "payload": {"fields": {"status": "closed"}}}
    assert refused(obj) == "op.bad_field"


def test_a_photo_needs_a_sha256_and_a_known_stage():
    base = {**good(), "kind": "photo"}
    photo = {"photo_id": new_id(), "sha256": "ab" * 32, "size": 10, "stage": "before", "key": "A" * 43}
    validate_op({**base, "payload": photo})
    assert refused({**base, "payload": {**photo, "stage": "during"}}) == "op.bad_field"
    assert refused({**base, "payload": {**photo, "sha256": "zz" * 32}}) == "op.bad_field"
    assert refused({**base, "payload": {**photo, "size": 10**9}}) == "op.bad_field"


def test_a_segment_whose_ops_skip_a_sequence_number_is_refused_whole():
    maker = OpMaker(DEV_1, "zhang.wei")
    case_id = new_id()
    ops = [maker.create(case_id), maker.note(case_id)]
    maker.seq += 1
    ops.append(maker.note(case_id))
    with pytest.raises(GridsyncError) as info:
        decode_ops(encode_ops(ops), device_id=DEV_1, first_seq=1, count=3)
    assert info.value.code == "op.sequence"


def test_a_segment_holding_another_devices_op_is_refused():
    ops = [OpMaker("e" * 32, "zhang.wei").create(new_id())]
    with pytest.raises(GridsyncError) as info:
        decode_ops(encode_ops(ops), device_id=DEV_1, first_seq=1, count=1)
    assert info.value.code == "segment.wrong_device"


def test_a_count_that_disagrees_with_the_header_is_refused():
    ops = [OpMaker(DEV_1, "zhang.wei").create(new_id())]
    with pytest.raises(GridsyncError) as info:
        decode_ops(encode_ops(ops), device_id=DEV_1, first_seq=1, count=2)
    assert info.value.code == "segment.count_mismatch"


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=12,
    )
)
def test_any_json_value_is_either_a_valid_op_or_a_coded_refusal(value):
    try:
        validate_op(value)
    except GridsyncError as exc:
        assert exc.code.startswith("op.")


@given(st.binary(max_size=200))
def test_any_bytes_decode_to_ops_or_a_coded_refusal(data):
    try:
        decode_ops(data, device_id=DEV_1, first_seq=1, count=1)
    except GridsyncError as exc:
        assert exc.code.startswith(("op.", "segment."))


def test_encoding_is_compact_utf8_json():
    op = OpMaker(DEV_1, "zhang.wei").create(new_id())
    text = encode_ops([op]).decode()
    assert "井盖" in text and ", " not in text
    assert json.loads(text)[0]["kind"] == "create"
