"""Resumable, content-addressed photo uploads; downloads only for people who may see the case."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any

from tests.server.device import SPOT_B, TestDevice, hex32


def _put(device: TestDevice, sha: str, offset: int, size: int, chunk: bytes) -> Any:
    path, query = f"/v1/photos/{sha}", f"offset={offset}&size={size}"
    headers = device.headers("PUT", path, query, chunk)
    return device.client.put(f"{path}?{query}", content=chunk, headers=headers)


def test_an_upload_resumes_from_the_offset_the_server_holds(worker: Any) -> None:
    blob = os.urandom(250_000)
    sha = hashlib.sha256(blob).hexdigest()
    assert worker.get(f"/v1/photos/{sha}/status").json() == {"received": 0, "size": None, "complete": False}
    assert _put(worker, sha, 0, len(blob), blob[:100_000]).json()["received"] == 100_000
    # the phone lost its connection and asks where to resume
    status = worker.get(f"/v1/photos/{sha}/status").json()
    assert status == {"received": 100_000, "size": 250_000, "complete": False}
    wrong = _put(worker, sha, 0, len(blob), blob[:100_000])
    assert wrong.status_code == 409
    assert wrong.json()["error"] == {**wrong.json()["error"], "code": "photo.bad_offset", "detail": "100000"}
    done = _put(worker, sha, 100_000, len(blob), blob[100_000:]).json()
    assert done == {"received": 250_000, "size": 250_000, "complete": True}


def test_a_blob_that_does_not_match_its_hash_is_dropped(worker: Any) -> None:
    blob = os.urandom(1000)
    sha = hashlib.sha256(b"something else").hexdigest()
    response = _put(worker, sha, 0, len(blob), blob)
    assert (response.status_code, response.json()["error"]["code"]) == (409, "photo.hash_mismatch")
    assert worker.get(f"/v1/photos/{sha}/status").json()["received"] == 0


def test_a_blob_already_complete_answers_complete_at_once(worker: Any, enrolled: Any) -> None:
    blob = os.urandom(1000)
    sha = hashlib.sha256(blob).hexdigest()
    _put(worker, sha, 0, len(blob), blob)
    assert _put(worker, sha, 0, len(blob), blob[:10]).json()["complete"] is True
    other = enrolled("li.na")  # another phone learns nothing of it, and cannot add to it
    assert _put(other, sha, 0, len(blob), blob[:10]).json()["error"]["code"] == "photo.foreign"


def test_a_chunk_over_a_mebibyte_is_refused(worker: Any) -> None:
    chunk = bytes(1024 * 1024 + 1)
    response = _put(worker, "ab" * 32, 0, 2 * len(chunk), chunk)
    assert (response.status_code, response.json()["error"]["code"]) == (413, "request.too_large")


def test_a_photo_is_served_only_to_people_who_may_see_its_case(enrolled: Callable[[str], TestDevice]) -> None:
    li, zhang, supervisor = enrolled("li.na"), enrolled("zhang.wei"), enrolled("chen.sup")
    blob = os.urandom(5000)
    sha = hashlib.sha256(blob).hexdigest()
    assert li.get(f"/v1/photos/{sha}").json()["error"]["code"] == "photo.unknown"
    _put(li, sha, 0, len(blob), blob)
    case_id = hex32()
    li.push_ops([li.create(case_id, spot=SPOT_B), li.photo(case_id, "before", sha)])
    assert li.get(f"/v1/photos/{sha}").content == blob
    assert supervisor.get(f"/v1/photos/{sha}").content == blob
    refused = zhang.get(f"/v1/photos/{sha}")  # answered as for a photo that never arrived
    assert (refused.status_code, refused.json()["error"]["code"]) == (404, "photo.unknown")


def test_a_case_never_waits_for_its_photos(worker: Any) -> None:
    case_id = hex32()
    receipt = worker.push_ops([worker.create(case_id), worker.photo(case_id, "before")])
    assert [o["outcome"] for o in receipt["outcomes"]] == ["applied", "applied"]
    sha = worker.pull()["cases"][0]["photos"][0]["sha256"]
    assert worker.get(f"/v1/photos/{sha}").json()["error"]["code"] == "photo.unknown"
