"""Case documents and receipts are written with orjson (`store.sqlite_tx.encode_tree`): the text
must be what the standard library writes — the same values, key order and characters — so phones,
exports and the changes feed read it the same whichever wrote it."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.model import case_to_dict
from shared.rules import apply_op
from sync_server.store.sqlite_tx import decode_tree, dump_json, encode_tree, load_case
from tests.shared.factories import DEV_1, WORKER, OpMaker, ctx, new_id

_SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text()
_TREES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300)
@given(_TREES)
def test_without_floats_the_text_is_the_standard_librarys_character_for_character(value: Any) -> None:
    assert encode_tree(value) == dump_json(value)
    assert decode_tree(encode_tree(value)) == value


@settings(max_examples=200)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=5))
def test_floats_read_back_as_the_same_floats(values: list[float]) -> None:
    assert json.loads(encode_tree(values)) == values == decode_tree(encode_tree(values))


def test_integers_beyond_64_bits_take_the_standard_librarys_way_both_ways() -> None:
    value = {"big": 2**70, "small": -(2**64), "list": [2**100]}
    text = encode_tree(value)
    assert text == dump_json(value)
    assert decode_tree(text) == value


def test_a_case_document_round_trips_through_the_store_encoding() -> None:
    maker = OpMaker(DEV_1, WORKER.worker_id)
    case_id = new_id()
    _, case = apply_op(None, maker.create(case_id), WORKER, ctx())
    assert case is not None
    for op in (maker.photo(case_id, "before"), maker.note(case_id, "井盖缺失\n\t“引号”")):
        _, case = apply_op(case, op, WORKER, ctx())
        assert case is not None
    text = encode_tree(case_to_dict(case))
    assert text == dump_json(case_to_dict(case))
    assert load_case(text) == case
