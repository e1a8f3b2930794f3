"""A segment's plaintext is cut from the pending ops' stored texts, spliced unparsed: the bytes must be
`shared.ops.encode_ops` of the same ops, byte for byte, and the cut must fall where the rule says
(each op's bytes plus a comma, within `max_plain`, at least one op)."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mobile.core import outbox
from mobile.core.outbox import op_text
from mobile.core.segments import cut
from mobile.core.store import dumps
from shared.ops import Op, encode_ops
from tests.mobile.conftest import GRID_A, Server, fix_in, run
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
    count, payload = cut([op_text(op) for op in ops], max_plain)
    batch = ops[:count]
    assert payload == encode_ops(batch)
    assert len(batch) >= 1
    if len(batch) > 1:
        assert len(payload) <= max_plain
    if len(batch) < len(ops):  # one more op would have gone past the limit
        assert len(encode_ops(ops[: len(batch) + 1])) > max_plain


def test_every_op_fits_under_a_large_limit() -> None:
    ops = _ops(["现场已查看", 'a "quoted" \\ note', "a\n\tb"])
    assert cut([op_text(op) for op in ops], 1024 * 1024) == (len(ops), encode_ops(ops))


def test_ops_that_fill_the_limit_exactly_go_in_one_segment() -> None:
    ops = _ops(["现场已查看", "已联系市政所"])
    exact = len(encode_ops(ops[:2]))
    texts = [op_text(op) for op in ops]
    assert cut(texts, exact) == (2, encode_ops(ops[:2]))
    assert cut(texts, exact - 1)[0] == 1


def test_ops_go_out_as_the_outbox_stores_them_and_rows_of_the_earlier_form_still_go_through(
    server: Server, tmp_path: Path
) -> None:
    """Sealing splices the stored texts: a new op's text is its wire JSON; a row stored in the
    earlier form (keys sorted) is the same JSON object and the server applies it alike."""
    device = server.device(tmp_path / "worker", "zhang.wei")
    case_id = device.report(category="0101", location=fix_in(GRID_A), description="井盖松动")
    device.add_note(case_id, "已联系市政所")
    with device.store.transaction() as conn:  # the earlier form of the first op's row
        text = conn.execute("SELECT op FROM outbox WHERE seq = 1").fetchone()[0]
        conn.execute("UPDATE outbox SET op = ? WHERE seq = 1", (dumps(json.loads(text)),))
    stored = [r[0] for r in device.store.all("SELECT op FROM outbox ORDER BY seq")]
    assert stored[1] == op_text(outbox.decode(stored[1]))
    assert stored[0] != op_text(outbox.decode(stored[0]))  # its keys sorted
    report = run(device.sync())
    assert report.ok and report.ops_sent == 2 and report.outcomes == {"applied": 2}
    case = server.case(case_id)
    assert case.version == 2 and [n.text for n in case.notes] == ["已联系市政所"]
