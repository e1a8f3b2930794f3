"""The SQLite store keeps a case's document packed (`store.case_text`): deflated against a fixed
dictionary. Phones must receive the same bytes as before, whichever way a row is stored, and rows
written before (plain JSON text) must read as they are."""

from __future__ import annotations

import sqlite3
import zlib
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.model import Case, case_to_dict
from shared.rules import apply_op
from sync_server.store import open_store
from sync_server.store.base import ChangeScope
from sync_server.store.case_text import _DICTIONARY_1, pack, unpack
from sync_server.store.sqlite_tx import encode_tree
from tests.shared.factories import DEV_1, WORKER, OpMaker, ctx, new_id

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=5000)  # what UTF-8 can hold


@settings(max_examples=300)
@given(_TEXT)
def test_a_packed_text_unpacks_to_the_same_text_character_for_character(text: str) -> None:
    packed = pack(text)
    assert isinstance(packed, bytes) and unpack(packed) == text
    assert unpack(text) == text  # a row written before: its text as it is


@settings(max_examples=100)
@given(st.lists(_TEXT, min_size=1, max_size=4))
def test_each_pack_is_what_a_new_compressor_gives_whatever_came_before(texts: list[str]) -> None:
    """`pack` deflates with a copy of one primed compressor: no document's bytes depend on another's."""
    for text in texts:
        fresh = zlib.compressobj(6, zlib.DEFLATED, -12, 6, zlib.Z_DEFAULT_STRATEGY, _DICTIONARY_1)
        assert pack(text) == b"\x01" + fresh.compress(text.encode()) + fresh.flush()


def _a_case() -> Case:
    maker = OpMaker(DEV_1, WORKER.worker_id)
    case_id = new_id()
    _, case = apply_op(None, maker.create(case_id), WORKER, ctx())
    assert case is not None
    for op in (maker.photo(case_id, "before"), maker.note(case_id, "井盖缺失\n\t“引号”")):
        _, case = apply_op(case, op, WORKER, ctx())
        assert case is not None
    return case


def _stored(path: Path) -> str | bytes:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT doc FROM cases").fetchone()[0]  # type: ignore[no-any-return]
    finally:
        db.close()


def test_the_feed_sends_a_case_as_the_same_text_whether_its_row_is_packed_or_as_written_before(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    store = open_store(f"sqlite://{path}")
    case = _a_case()
    text = encode_tree(case_to_dict(case))
    with store.transaction() as tx:
        tx.save_cases([(case, tx.reserve_change_seqs(1))])
    raw = _stored(path)
    assert isinstance(raw, bytes) and len(raw) < len(text.encode()) / 2  # packed, and much smaller
    [change] = store.changed_cases(0, 10, ChangeScope(everything=True))
    assert change.doc == text and store.case(case.case_id) == case
    store.close()

    db = sqlite3.connect(path)  # the row as a store wrote it before this format: its JSON text
    db.execute("UPDATE cases SET doc = ?", (text,))
    db.commit()
    db.close()
    store = open_store(f"sqlite://{path}")
    [change] = store.changed_cases(0, 10, ChangeScope(everything=True))
    assert change.doc == text and store.case(case.case_id) == case
    with store.transaction() as tx:  # saved again: packed again, read the same
        tx.save_cases([(case, tx.reserve_change_seqs(1))])
    store.close()
    assert isinstance(_stored(path), bytes)
    store = open_store(f"sqlite://{path}")
    [change] = store.changed_cases(0, 10, ChangeScope(everything=True))
    assert change.doc == text and store.case(case.case_id) == case
    store.close()
