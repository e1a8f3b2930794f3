"""GET /v1/changes: a sealed page of visible cases and this device's outcomes after a cursor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared import crypto
from shared.envelope import open_box
from shared.errors import GridsyncError
from tests.server.device import SPOT_B, TestDevice, hex32


def test_a_device_sees_its_own_cases_and_outcomes(worker: Any) -> None:
    case_id = hex32()
    worker.push_ops([worker.create(case_id), worker.note(case_id)])
    page = worker.pull()
    assert [c["case_id"] for c in page["cases"]] == [case_id]
    assert page["cases"][0]["version"] == 2
    assert [o["seq"] for o in page["outcomes"]] == [1, 2]
    assert page["more"] is False
    assert worker.pull(page["cursor"]) == {**page, "cases": [], "outcomes": []}


def test_a_worker_does_not_see_another_grids_cases_but_the_supervisor_does(
    enrolled: Callable[[str], TestDevice],
) -> None:
    zhang, li, supervisor, handler = (enrolled(w) for w in ("zhang.wei", "li.na", "chen.sup", "wang.h"))
    case_b = hex32()
    li.push_ops([li.create(case_b, spot=SPOT_B)])
    assert zhang.pull_all()["cases"] == {}
    assert list(supervisor.pull_all()["cases"]) == [case_b]
    assert handler.pull_all()["cases"] == {}
    supervisor.push_ops([supervisor.move(case_b, "file")])  # → municipal, the handler's department
    assert list(handler.pull_all()["cases"]) == [case_b]
    assert zhang.pull_all()["outcomes"] == []  # outcomes are only ever the device's own


def test_pages_follow_the_cursor_until_nothing_is_left(worker: Any) -> None:
    ids = [hex32() for _ in range(7)]
    worker.push_ops([worker.create(i) for i in ids])
    seen: list[str] = []
    outcomes = 0
    cursor, pages = 0, 0
    while True:
        page = worker.pull(cursor, limit=3)
        pages += 1
        seen += [c["case_id"] for c in page["cases"]]
        outcomes += len(page["outcomes"])
        assert len(page["cases"]) + len(page["outcomes"]) <= 3
        cursor = page["cursor"]
        if not page["more"]:
            break
    assert sorted(seen) == sorted(ids) and outcomes == 7
    assert pages >= 5


def test_a_limit_over_the_maximum_is_refused(worker: Any) -> None:
    response = worker.get("/v1/changes", "cursor=0&limit=1001")
    assert response.json()["error"]["code"] == "request.malformed"


def test_the_page_is_sealed_to_the_device_and_signed_by_the_server(worker: Any, enrolled: Any) -> None:
    response = worker.get("/v1/changes", "cursor=0")
    other = enrolled("zhang.wei")
    try:
        open_box(response.content, recipient_private=other.encryption,
                 signer_public_raw=crypto.b64d(other.server["signing_key"]),
                 context=b"changes", max_plain_bytes=1 << 20)  # fmt: skip
    except GridsyncError as exc:
        assert exc.code == "segment.unknown_key"
    else:
        raise AssertionError("another device opened the page")
