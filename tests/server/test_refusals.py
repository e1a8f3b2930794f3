"""Every refusal has a stable code, and nothing is applied on a refusal."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared import crypto
from shared.auth import new_nonce
from sync_server.enrollment import revoke_device
from tests.server.device import TestDevice


def _nothing_applied(services: Any, device: TestDevice) -> None:
    assert services.store.change_seq() == 0
    assert services.store.device(device.device_id).last_seq == 0


def _code(response: Any) -> str:
    code: str = response.json()["error"]["code"]
    return code


def test_a_tampered_segment_is_refused_before_decryption(worker: Any, services: Any) -> None:
    blob = bytearray(worker.seal([worker.create()]))
    blob[150] ^= 1
    response = worker.push(bytes(blob))
    assert (response.status_code, _code(response)) == (401, "segment.bad_signature")
    _nothing_applied(services, worker)


def test_a_truncated_segment_is_malformed(worker: Any, services: Any) -> None:
    response = worker.push(worker.seal([worker.create()])[:-10])
    assert (response.status_code, _code(response)) == (400, "segment.malformed")
    _nothing_applied(services, worker)


def test_a_segment_signed_with_another_key_is_refused(worker: Any, services: Any) -> None:
    real = worker.signing
    worker.signing = crypto.new_signing_key()
    blob = worker.seal([worker.create()])
    worker.signing = real
    assert _code(worker.push(blob)) == "segment.bad_signature"
    _nothing_applied(services, worker)


def test_a_segment_sealed_to_another_server_key_is_refused(worker: Any, services: Any) -> None:
    worker.server = {
        **worker.server,
        "encryption_key": crypto.b64e(crypto.public_raw(crypto.new_encryption_key())),
    }
    assert _code(worker.push(worker.seal([worker.create()]))) == "segment.unknown_key"
    _nothing_applied(services, worker)


def test_a_revoked_device_is_refused(worker: Any, services: Any, clock: Any) -> None:
    revoke_device(services.store, worker.device_id, clock.now)
    response = worker.push(worker.seal([worker.create()]))
    assert (response.status_code, _code(response)) == (403, "device.revoked")
    _nothing_applied(services, worker)


def test_an_unsigned_request_is_refused(worker: Any, services: Any, client: Any) -> None:
    response = client.post("/v1/segments", content=worker.seal([worker.create()]))
    assert (response.status_code, _code(response)) == (401, "request.unsigned")
    _nothing_applied(services, worker)


def test_an_unknown_device_is_refused(client: Any, clock: Any) -> None:
    stranger = TestDevice(client, clock)
    stranger.device_id = "ab" * 16
    response = stranger.get("/v1/changes", "cursor=0")
    assert (response.status_code, _code(response)) == (401, "device.unknown")


def test_a_replayed_request_is_refused(worker: Any, services: Any) -> None:
    nonce = new_nonce()
    blob = worker.seal([worker.create()])
    assert worker.push(blob, nonce=nonce).status_code == 200
    response = worker.push(blob, nonce=nonce)
    assert (response.status_code, _code(response)) == (401, "request.replayed")


def test_a_request_outside_the_time_window_is_expired(worker: Any, services: Any, clock: Any) -> None:
    response = worker.push(worker.seal([worker.create()]), at=clock.now - 301)
    assert (response.status_code, _code(response)) == (401, "request.expired")
    _nothing_applied(services, worker)


def test_a_request_signed_for_another_body_is_refused(worker: Any, services: Any) -> None:
    blob = worker.seal([worker.create()])
    headers = worker.headers("POST", "/v1/segments", "", b"other")
    response = worker.client.post("/v1/segments", content=blob, headers=headers)
    assert _code(response) == "request.bad_signature"
    _nothing_applied(services, worker)


def test_another_devices_segment_is_refused(worker: Any, enrolled: Any, services: Any) -> None:
    other = enrolled("zhang.wei")
    blob = other.seal([other.create()])
    response = worker.push(blob)
    assert (response.status_code, _code(response)) == (403, "segment.wrong_device")


@pytest.mark.parametrize("config_overrides", [{"max_segment_bytes": 4096}])
def test_an_oversized_body_is_refused_by_its_content_length(worker: Any, services: Any) -> None:
    response = worker.push(bytes(5000))
    assert (response.status_code, _code(response)) == (413, "request.too_large")
    _nothing_applied(services, worker)


@pytest.mark.parametrize("config_overrides", [{"max_segment_bytes": 4096}])
def test_an_oversized_body_without_a_length_is_refused_while_it_streams(worker: Any, services: Any) -> None:
    sent: list[int] = []

    async def chunks() -> Any:
        for _ in range(100):
            sent.append(1)
            yield bytes(1000)

    headers = worker.headers("POST", "/v1/segments", "", b"")
    response = worker.client.post("/v1/segments", content=chunks(), headers=headers)
    assert (response.status_code, _code(response)) == (413, "request.too_large")
    assert len(sent) < 100
    _nothing_applied(services, worker)


def test_one_malformed_op_refuses_the_whole_segment(worker: Any, services: Any) -> None:
    good, bad = worker.create(), worker.create()
    bad["payload"]["category"] = "not-a-code"
    response = worker.push(worker.seal([good, bad]))
    assert (response.status_code, _code(response)) == (400, "op.bad_field")
    _nothing_applied(services, worker)


def test_a_body_that_does_not_match_the_header_count_is_refused(worker: Any, services: Any) -> None:
    ops = [worker.create(), worker.create()]
    payload = json.dumps(ops[:1]).encode()
    response = worker.push(worker.seal(ops, payload=payload))
    assert _code(response) == "segment.count_mismatch"
    _nothing_applied(services, worker)


def test_a_segment_body_that_is_not_json_is_op_malformed(worker: Any, services: Any) -> None:
    response = worker.push(worker.seal([worker.create()], payload=b"\xff\xfe"))
    assert _code(response) == "op.malformed"


def test_an_unknown_route_answers_the_error_shape(client: Any) -> None:
    response = client.get("/v1/nothing-here")
    assert (response.status_code, _code(response)) == (404, "request.not_found")


def test_a_bad_query_is_request_malformed(worker: Any) -> None:
    response = worker.get("/v1/changes", "cursor=-1")
    assert (response.status_code, _code(response)) == (400, "request.malformed")


def test_a_pull_with_a_bad_query_is_refused_before_its_signature_is_checked(worker: Any, client: Any) -> None:
    """The query's bounds are checked before the signature (verified with the page's work, in one
    hop): a malformed pull spends no nonce, and a forged one is told `request.malformed` as well."""
    nonce = new_nonce()
    bad = client.get(
        "/v1/changes?limit=0", headers=worker.headers("GET", "/v1/changes", "limit=0", nonce=nonce)
    )
    assert (bad.status_code, _code(bad)) == (400, "request.malformed")
    good = client.get(
        "/v1/changes?limit=9", headers=worker.headers("GET", "/v1/changes", "limit=9", nonce=nonce)
    )
    assert good.status_code == 200, good.text
    forged = worker.headers("GET", "/v1/changes", "limit=0")
    forged["X-Gridsync-Signature"] = crypto.b64e(bytes(64))
    response = client.get("/v1/changes?limit=0", headers=forged)
    assert (response.status_code, _code(response)) == (400, "request.malformed")
