"""Reading a page of the changes feed: the same values json.loads reads, each case with the exact text
the server wrote, and every page json.loads (or the API) refuses refused as `segment.malformed`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mobile.core.changes_page import read_page
from shared.errors import GridsyncError


def _pair(doc: dict[str, Any], text: str) -> tuple[dict[str, Any], str]:
    return doc, text


def _page(cases: list[str], tail: str = '"outcomes":[],"cursor":7,"more":true') -> bytes:
    """Spliced like `sync_server.changes.sealed_changes`: stored documents put in unparsed."""
    return ('{"cases":[' + ",".join(cases) + "]," + tail + "}").encode("utf-8")


def test_each_case_keeps_the_exact_text_the_server_wrote() -> None:
    texts = [
        '{"case_id":"a","version":1,"description":"井盖松动 / loose cover","location":{"lat":22.75,"lon":115.3}}',
        '{"version":3,"case_id":"b","timeline":[],"note":"tab\\tquote\\" \\u00e9"}',
    ]
    page = read_page(_page(texts), _pair)
    assert [text for _, text in page.cases] == texts
    assert [doc for doc, _ in page.cases] == [json.loads(t) for t in texts]
    assert (page.outcomes, page.cursor, page.more, page.server_keys) == ([], 7, True, None)


def test_whitespace_member_order_and_an_empty_page_read_as_json_loads_reads_them() -> None:
    blob = b'\n { "more" : false , "cursor" : 12, "outcomes" : [ {"op_id": "x"} ] ,\n "cases" : [ ] } \n'
    page = read_page(blob, _pair)
    assert (page.cases, page.outcomes, page.cursor, page.more) == ([], [{"op_id": "x"}], 12, False)


def test_a_repeated_member_keeps_its_last_value_as_in_json_loads() -> None:
    blob = b'{"cases":[{"case_id":"a"}],"outcomes":[],"cursor":1,"cursor":2,"cases":[{"case_id":"b"}]}'
    page = read_page(blob, _pair)
    assert page.cursor == json.loads(blob)["cursor"] == 2
    assert page.cases == [({"case_id": "b"}, '{"case_id":"b"}')]


def test_only_what_keep_returns_is_kept() -> None:
    page = read_page(
        _page(['{"case_id":"a","version":2}', '{"case_id":"b","version":5}']), lambda d, t: d["version"]
    )
    assert page.cases == [2, 5]


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"[]",
        b"{}",
        b'{"cases":[],"outcomes":[]}',  # no cursor
        b'{"cases":[],"cursor":1}',  # no outcomes
        b'{"outcomes":[],"cursor":1}',  # no cases
        b'{"cases":{},"outcomes":[],"cursor":1}',
        b'{"cases":[],"outcomes":{},"cursor":1}',
        b'{"cases":[1],"outcomes":[],"cursor":1}',
        b'{"cases":[{"case_id":"a"},],"outcomes":[],"cursor":1}',
        b'{"cases":[{"case_id":"a"} {"case_id":"b"}],"outcomes":[],"cursor":1}',
        b'{"cases":[],"outcomes":[],"cursor":1,}',
        b'{"cases":[],"outcomes":[],"cursor":1} x',
        b'{"cases":[],"outcomes":[],"cursor":"one"}',
        b'{"cases":[{"case_id":"a"],"outcomes":[],"cursor":1}',
        b'{cases:[],"outcomes":[],"cursor":1}',
        b'{"cases":[],"outcomes":[],"cursor":1',
        b'{"cases":[{"a":"\xff"}],"outcomes":[],"cursor":1}',  # not UTF-8
    ],
)
def test_a_page_that_is_not_what_the_api_describes_is_malformed(blob: bytes) -> None:
    with pytest.raises(GridsyncError) as caught:
        read_page(blob, _pair)
    assert caught.value.code == "segment.malformed"


def test_a_case_keep_refuses_makes_the_page_malformed() -> None:
    with pytest.raises(GridsyncError) as caught:
        read_page(_page(['{"version":1}']), lambda d, t: d["case_id"])
    assert caught.value.code == "segment.malformed"


_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=12,
)
_cases = st.lists(st.dictionaries(st.text(max_size=6), _values, max_size=4), max_size=5)
_styles = st.sampled_from(
    [
        {"separators": (",", ":")},
        {"separators": (",", ":"), "ensure_ascii": False},
        {"indent": 2, "sort_keys": True},
        {},
    ]
)


@settings(max_examples=200, deadline=None)
@given(cases=_cases, outcomes=st.lists(_values, max_size=2), cursor=st.integers(0, 10**12), style=_styles)
def test_any_page_reads_as_json_loads_reads_it(
    cases: list[dict[str, Any]], outcomes: list[Any], cursor: int, style: dict[str, Any]
) -> None:
    blob = json.dumps({"outcomes": outcomes, "cases": cases, "cursor": cursor, "more": True}, **style)
    page = read_page(blob.encode("utf-8"), _pair)
    expected = json.loads(blob)
    assert [doc for doc, _ in page.cases] == expected["cases"]
    assert [json.loads(text) for _, text in page.cases] == expected["cases"]
    assert all(text in blob for _, text in page.cases)
    assert (page.outcomes, page.cursor, page.more) == (expected["outcomes"], cursor, True)
