"""A supervisor edits a case's public text from her phone: `PUT /v1/cases/{case_id}/public-text`,
signed (issue 15 item 7). What she writes is what Open311 publishes (JSON and XML) instead of the
masked description; the edit is kept with who, from which device and when. Anyone else is refused
and nothing changes: a worker who may see the case gets `case.not_allowed`, a case she may not see
is `case.unknown`, exactly as a case that does not exist."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from shared.ops import MAX_PUBLIC_TEXT
from sync_server.enrollment import add_worker
from tests.server.asgi import SyncClient
from tests.server.device import GRID_B, TestDevice, hex32
from tests.server.test_open311_privacy import report


def put_text(device: TestDevice, case_id: str, raw: bytes) -> Any:
    path = f"/v1/cases/{case_id}/public-text"
    headers = {**device.headers("PUT", path, "", raw), "Content-Type": "application/json"}
    return device.client.put(path, content=raw, headers=headers)


def body(text: object) -> bytes:
    return json.dumps({"text": text}, ensure_ascii=False).encode()


def published(client: SyncClient, services: Any, case_id: str) -> tuple[Any, str]:
    case_no = services.store.case(case_id).case_no
    as_json = client.get(f"/open311/v2/requests/{case_no}.json").json()[0]["description"]
    return as_json, client.get(f"/open311/v2/requests/{case_no}.xml").text


def test_a_supervisor_edits_the_public_text_from_her_phone_and_open311_shows_it(
    client: SyncClient, worker: TestDevice, supervisor: TestDevice, services: Any, clock: Any
) -> None:
    case_id = report(worker)
    supervisor.push_ops([supervisor.move(case_id, "file", department="municipal")])
    masked, _ = published(client, services, case_id)
    assert masked is not None and "13812345678" not in masked
    response = put_text(supervisor, case_id, body("  二马路井盖破损，已派人处理 "))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["case_id"] == case_id and answer["text"] == "二马路井盖破损，已派人处理"
    assert answer["edited_at"] == clock.now
    description, xml = published(client, services, case_id)
    assert description == "二马路井盖破损，已派人处理"
    assert "<description>二马路井盖破损，已派人处理</description>" in xml
    assert put_text(supervisor, case_id, body("二马路井盖已更换")).status_code == 200
    assert published(client, services, case_id)[0] == "二马路井盖已更换"
    edits = services.store.public_text_edits(case_id)
    assert [(e.text, e.before, e.edited_at) for e in edits] == [
        ("二马路井盖破损，已派人处理", None, clock.now),
        ("二马路井盖已更换", "二马路井盖破损，已派人处理", clock.now),
    ]
    assert all(e.edited_by == f"chen.sup (device {supervisor.device_id})" for e in edits)


def test_a_reported_case_publishes_the_supervisors_text_before_it_is_filed(
    client: SyncClient, worker: TestDevice, supervisor: TestDevice, services: Any
) -> None:
    case_id = report(worker)
    assert published(client, services, case_id)[0] is None
    assert put_text(supervisor, case_id, body("路灯不亮")).status_code == 200
    assert published(client, services, case_id)[0] == "路灯不亮"


def test_a_worker_who_sees_the_case_is_refused_by_role_and_nothing_changes(
    client: SyncClient, worker: TestDevice, services: Any
) -> None:
    case_id = report(worker)
    response = put_text(worker, case_id, body("随便写"))
    assert (response.status_code, response.json()["error"]["code"]) == (403, "case.not_allowed")
    assert services.store.public_text_edits() == []
    assert published(client, services, case_id)[0] is None


def test_a_case_she_may_not_see_answers_as_a_case_that_does_not_exist(
    client: SyncClient, worker: TestDevice, enrolled: Callable[[str], TestDevice], services: Any
) -> None:
    case_id = report(worker)  # in grid A
    add_worker(services.store, "sun.sup", name="孙主任", role="supervisor", grids=[GRID_B])
    sun = enrolled("sun.sup")
    hidden = put_text(sun, case_id, body("别的城区"))
    missing = put_text(sun, hex32(), body("别的城区"))
    assert (hidden.status_code, missing.status_code) == (404, 404)
    assert hidden.json()["error"]["code"] == missing.json()["error"]["code"] == "case.unknown"
    assert hidden.json() == missing.json()  # existence does not leak
    worker_missing = put_text(worker, hex32(), body("x"))
    assert (worker_missing.status_code, worker_missing.json()["error"]["code"]) == (404, "case.unknown")
    assert services.store.public_text_edits() == []
    assert published(client, services, case_id)[0] is None


@pytest.mark.parametrize(
    "raw",
    [
        body("井盖\x00破损"),  # NUL: no store holds it
        b'{"text": "\\ud83d broken"}',  # a lone surrogate: valid JSON, not text
        body("x" * (MAX_PUBLIC_TEXT + 1)),
        body("   "),
        body(""),
        body(12),
        body(None),
        b'{"text": "ok", "extra": 1}',
        b'{"words": "ok"}',
        b"not json",
        b"",
        b'["text"]',
    ],
)
def test_a_text_that_is_not_plain_bounded_text_is_refused_and_nothing_is_kept(
    client: SyncClient, worker: TestDevice, supervisor: TestDevice, services: Any, raw: bytes
) -> None:
    case_id = report(worker)
    response = put_text(supervisor, case_id, raw)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "request.malformed")
    assert services.store.public_text_edits() == []
    assert published(client, services, case_id)[0] is None


def test_the_longest_text_is_accepted(worker: TestDevice, supervisor: TestDevice, services: Any) -> None:
    case_id = report(worker)
    assert put_text(supervisor, case_id, body("井" * MAX_PUBLIC_TEXT)).status_code == 200
    assert services.store.public_texts([case_id]) == {case_id: "井" * MAX_PUBLIC_TEXT}
