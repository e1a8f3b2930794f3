"""A segment's plaintext is cut from the pending ops with each op encoded once: the bytes must be
`shared.ops.encode_ops` of the same ops, byte for byte, and the cut must fall where the rule says
(each op's bytes plus a comma, within `max_plain`, at least one op)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mobile.core.segments import cut
from shared.ops import Op, encode_ops
from tests.shared.factories import DEV_1, WORKER, OpMaker, new_id

_NOTES = st.lists(
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=300).filter(str.strip),
    min_size=1,
    max_size=12,
)


def _ops(notes: list[str]) -> list[Op]:
    maker = OpMaker(DEV_1, WORKER.worker_id)
    case_id = new_id()
    return [maker.create(case_id), *(maker.note(case_id, text) for text in notes)]


@settings(max_examples=200)
@given(_NOTES, st.integers(min_value=1, max_value=4000))
def test_a_cut_is_encode_ops_of_its_ops_byte_for_byte_and_as_long_as_the_limit_allows(
    notes: list[str], max_plain: int
) -> None:
    ops = _ops(notes)
    batch, payload = cut(ops, max_plain)
    assert payload == encode_ops(batch)
    assert batch == ops[: len(batch)] and len(batch) >= 1
    if len(batch) > 1:
        assert len(payload) <= max_plain
    if len(batch) < len(ops):  # one more op would have gone past the limit
        assert len(encode_ops(ops[: len(batch) + 1])) > max_plain


def test_every_op_fits_under_a_large_limit() -> None:
    ops = _ops(["现场已查看", 'a "quoted" \\ note', "a\n\tb"])
    assert cut(ops, 1024 * 1024) == (ops, encode_ops(ops))


def test_ops_that_fill_the_limit_exactly_go_in_one_segment() -> None:
    ops = _ops(["现场已查看", "已联系市政所"])
    exact = len(encode_ops(ops[:2]))
    assert cut(ops, exact) == (ops[:2], encode_ops(ops[:2]))
    assert cut(ops, exact - 1)[0] == ops[:1]
