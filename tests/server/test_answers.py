"""A segment's receipt is sent gzip-compressed when the phone accepts it (`sync_server.api.answers`),
and as plain JSON, the same bytes, when it does not."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from sync_server.api.answers import GZIP_MIN_BYTES, accepts_gzip, packed_json
from sync_server.json_answer import answer_json
from tests.server.device import hex32


def _push(worker: Any, ops: list[dict[str, Any]], accept: str) -> Any:
    blob = worker.seal(ops)
    headers = worker.headers("POST", "/v1/segments", "", blob)
    headers["Content-Type"] = "application/octet-stream"
    headers["Accept-Encoding"] = accept
    return worker.client.post("/v1/segments", content=blob, headers=headers)


def _many(worker: Any, n: int) -> list[dict[str, Any]]:
    ops = []
    for _ in range(n // 2):
        case_id = hex32()
        ops += [worker.create(case_id), worker.note(case_id)]
    return ops


def test_a_large_receipt_comes_gzipped_to_a_phone_that_accepts_it(worker: Any, services: Any) -> None:
    response = _push(worker, _many(worker, 40), "gzip, deflate")
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "accept-encoding"
    receipt = response.json()  # httpx undoes the gzip, as the phone's client does
    assert [o["outcome"] for o in receipt["outcomes"]] == ["applied"] * 40
    sent = int(response.headers["content-length"])
    assert sent < len(response.content) / 2  # 40 outcomes, two random ids each: still under half
    assert response.content == answer_json(receipt)  # the same JSON FastAPI would have sent


def test_a_phone_that_refuses_gzip_gets_the_plain_receipt(worker: Any, services: Any) -> None:
    response = _push(worker, _many(worker, 40), "gzip;q=0, identity")
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert response.headers["vary"] == "accept-encoding"
    assert int(response.headers["content-length"]) == len(response.content)
    assert len(response.json()["outcomes"]) == 40


def test_a_small_receipt_is_sent_plain(worker: Any, services: Any) -> None:
    response = _push(worker, [worker.create()], "gzip")
    assert response.status_code == 200
    assert len(response.content) < GZIP_MIN_BYTES
    assert "content-encoding" not in response.headers


def test_the_stored_receipt_of_a_resent_segment_is_compressed_too(worker: Any, services: Any) -> None:
    blob = worker.seal(_many(worker, 40))
    headers = worker.headers("POST", "/v1/segments", "", blob)
    headers["Content-Type"] = "application/octet-stream"
    first = worker.client.post("/v1/segments", content=blob, headers=headers)
    again = worker.client.post(
        "/v1/segments", content=blob, headers={**worker.headers("POST", "/v1/segments", "", blob),
                                               "Content-Type": "application/octet-stream"},
    )  # fmt: skip
    assert again.headers["content-encoding"] == "gzip"
    assert again.json() == {**first.json(), "status": "resent"}


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("gzip", True),
        ("gzip, deflate, br, zstd", True),
        ("GZIP", True),
        ("x-gzip", True),
        ("deflate, gzip;q=0.5", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip; q=0.0, *", False),
        ("*;q=0", False),
        ("identity", False),
        ("deflate, br", False),
        ("", False),
        ("gzip;q=nonsense", False),
        (" , ;, gzip", True),
    ],
)
def test_accept_encoding_is_read_as_http_says(header: str, accepted: bool) -> None:
    assert accepts_gzip(header) is accepted


def test_packed_json_is_jsonresponse_bytes_plain_or_gzipped() -> None:
    value = {"outcomes": [{"op_id": hex32(), "text": "井盖破损", "n": i} for i in range(30)]}
    plain, plain_headers = packed_json(value, "identity")
    zipped, zipped_headers = packed_json(value, "gzip")
    assert plain == json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    assert plain_headers == {"vary": "accept-encoding"}
    assert zipped_headers == {"vary": "accept-encoding", "content-encoding": "gzip"}
    assert gzip.decompress(zipped) == plain
