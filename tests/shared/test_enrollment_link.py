"""The enrollment link and code (`shared.enrollment`): what a phone accepts from a QR code or a link."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from shared.enrollment import enroll_link, normalise_code, parse_enroll_link
from shared.errors import GridsyncError

FP = "0123456789abcdef"


def test_a_link_gives_back_what_it_was_made_of() -> None:
    link = enroll_link("https://grid.example.cn", "ABCD-EFGH-JK23", FP)
    assert parse_enroll_link(link) == ("https://grid.example.cn", "ABCD-EFGH-JK23", FP)


def test_a_typed_code_is_read_as_people_type_it() -> None:
    assert normalise_code(" abcd efgh-jk23 ") == "ABCD-EFGH-JK23"


@pytest.mark.parametrize("fp", [FP + "%0A", FP[:-1], FP.upper(), FP + "0"])
def test_a_malformed_fingerprint_is_refused(fp: str) -> None:
    """The whole value must match (a pattern with `$` also matched before a final newline)."""
    link = f"gridsync://enroll?server={quote('https://grid.example.cn', safe='')}&code=ABCD-EFGH-JK23&fp={fp}"
    with pytest.raises(GridsyncError) as caught:
        parse_enroll_link(link)
    assert caught.value.code == "enroll.bad_code"
