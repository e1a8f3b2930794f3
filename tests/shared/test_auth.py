"""Request signing: a signed request checks out; every way of getting it wrong has its own code."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import auth, crypto
from shared.errors import GridsyncError

KEY = crypto.new_signing_key()
DEVICE_ID = "6f1c0e0a1d2b4c3d8e4f5a6b7c8d9e0f"
NOW = 1_760_000_000
NONCE = "n0nce-0123456789_abc"
BODY = b'{"segment": "..."}'


def known(device_id: str) -> bytes | None:
    return crypto.public_raw(KEY) if device_id == DEVICE_ID else None


def signed(
    method: str = "POST", path: str = "/v1/segments", query: str = "a=1&b=2", body: bytes = BODY
) -> dict[str, str]:
    return auth.sign_request(KEY, DEVICE_ID, method, path, query, body, NOW, NONCE)


def check(
    headers: dict[str, str],
    method: str = "POST",
    path: str = "/v1/segments",
    query: str = "a=1&b=2",
    body: bytes = BODY,
    now: int = NOW,
    public_key_for: Callable[[str], bytes | None] = known,
) -> str:
    return auth.check_request(headers, method, path, query, body, public_key_for=public_key_for, now=now)


def refused(action: Callable[[], object]) -> str:
    with pytest.raises(GridsyncError) as caught:
        action()
    return caught.value.code


def test_the_canonical_request_is_exactly_the_documented_string() -> None:
    text = auth.canonical_request("post", "/v1/segments", "b=2&a=x%20y", 17, NONCE, b"body").decode()
    assert text == "\n".join(
        [
            "GRIDSYNC-REQ-V1",
            "POST",
            "/v1/segments",
            "a=x%20y&b=2",
            "17",
            NONCE,
            hashlib.sha256(b"body").hexdigest(),
        ]
    )


def test_a_signed_request_checks_out_as_its_device() -> None:
    headers = signed()
    assert set(headers) == {
        "X-Gridsync-Device",
        "X-Gridsync-Timestamp",
        "X-Gridsync-Nonce",
        "X-Gridsync-Signature",
    }
    assert headers[auth.HEADER_TIMESTAMP] == str(NOW) and headers[auth.HEADER_DEVICE] == DEVICE_ID
    assert check(headers) == DEVICE_ID


def test_header_names_are_looked_up_regardless_of_case() -> None:
    assert check({name.lower(): value for name, value in signed().items()}) == DEVICE_ID
    assert check({name.upper(): value for name, value in signed().items()}) == DEVICE_ID


def test_query_parameter_order_and_spelling_do_not_matter() -> None:
    headers = signed(query="b=2&a=1&c=x y")
    assert check(headers, query="c=x+y&a=1&b=2") == DEVICE_ID
    assert check(headers, query="a=1&c=x%20y&b=2") == DEVICE_ID
    assert refused(lambda: check(headers, query="a=1&b=2&c=x")) == "request.bad_signature"


@pytest.mark.parametrize(
    "change",
    [
        {"body": BODY + b" "},
        {"body": b""},
        {"method": "PUT"},
        {"path": "/v1/segments/other"},
        {"query": "a=1&b=3"},
        {"query": "a=1"},
    ],
    ids=["body appended", "body dropped", "method", "path", "query value", "query parameter dropped"],
)
def test_any_tampering_with_the_request_breaks_the_signature(change: dict[str, str | bytes]) -> None:
    assert refused(lambda: check(signed(), **change)) == "request.bad_signature"  # type: ignore[arg-type]


@given(st.binary(min_size=1, max_size=64), st.integers(0, len(BODY)))
def test_any_change_to_the_body_is_detected(extra: bytes, at: int) -> None:
    tampered = BODY[:at] + extra + BODY[at:]
    assert refused(lambda: check(signed(), body=tampered)) == "request.bad_signature"


def test_a_request_signed_by_another_key_or_with_a_swapped_nonce_has_a_bad_signature() -> None:
    other = auth.sign_request(
        crypto.new_signing_key(), DEVICE_ID, "POST", "/v1/segments", "a=1&b=2", BODY, NOW, NONCE
    )
    assert refused(lambda: check(other)) == "request.bad_signature"
    swapped = {**signed(), auth.HEADER_NONCE: "another-nonce-0123456"}
    assert refused(lambda: check(swapped)) == "request.bad_signature"
    moved = {**signed(), auth.HEADER_TIMESTAMP: str(NOW + 1)}
    assert refused(lambda: check(moved)) == "request.bad_signature"


@pytest.mark.parametrize(
    "missing", [auth.HEADER_DEVICE, auth.HEADER_TIMESTAMP, auth.HEADER_NONCE, auth.HEADER_SIGNATURE]
)
def test_a_missing_or_empty_header_means_the_request_is_unsigned(missing: str) -> None:
    headers = signed()
    del headers[missing]
    assert refused(lambda: check(headers)) == "request.unsigned"
    assert refused(lambda: check({**signed(), missing: ""})) == "request.unsigned"
    assert refused(lambda: check({})) == "request.unsigned"


def test_a_device_the_server_does_not_know_is_refused_as_unknown() -> None:
    assert refused(lambda: check(signed(), public_key_for=lambda _: None)) == "device.unknown"


def test_the_lookup_may_refuse_a_revoked_device_itself() -> None:
    def revoked(_: str) -> bytes | None:
        raise GridsyncError("device.revoked")

    assert refused(lambda: check(signed(), public_key_for=revoked)) == "device.revoked"


@pytest.mark.parametrize("skew", [301, -301, 10_000])
def test_a_request_outside_the_window_has_expired(skew: int) -> None:
    assert refused(lambda: check(signed(), now=NOW + skew)) == "request.expired"


@pytest.mark.parametrize("skew", [0, 300, -300])
def test_a_request_inside_the_window_is_fresh(skew: int) -> None:
    assert check(signed(), now=NOW + skew) == DEVICE_ID


def test_the_clock_is_only_judged_after_the_signature() -> None:
    forged = {**signed(), auth.HEADER_SIGNATURE: crypto.b64e(bytes(64))}
    assert refused(lambda: check(forged, now=NOW + 10_000)) == "request.bad_signature"


@pytest.mark.parametrize(
    ("header", "value"),
    [
        (auth.HEADER_DEVICE, "6F1C0E0A1D2B4C3D8E4F5A6B7C8D9E0F"),
        (auth.HEADER_DEVICE, "6f1c0e0a-1d2b-4c3d-8e4f-5a6b7c8d9e0f"),
        (auth.HEADER_TIMESTAMP, "soon"),
        (auth.HEADER_TIMESTAMP, "-5"),
        (auth.HEADER_TIMESTAMP, "01760000000"),
        (auth.HEADER_NONCE, "short"),
        (auth.HEADER_NONCE, "has spaces in it 0123"),
        (auth.HEADER_SIGNATURE, "not base64!"),
        (auth.HEADER_SIGNATURE, crypto.b64e(bytes(63))),
    ],
)
def test_an_unreadable_header_is_malformed(header: str, value: str) -> None:
    assert refused(lambda: check({**signed(), header: value})) == "request.malformed"


def test_the_same_header_twice_with_different_values_is_malformed() -> None:
    headers = {**signed(), auth.HEADER_NONCE.lower(): "another-nonce-0123456"}
    assert refused(lambda: check(headers)) == "request.malformed"


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "v1/no-slash"), ("POST", "/with space"), ("PO ST", "/v1")]
)
def test_a_method_or_path_that_cannot_be_signed_is_malformed(method: str, path: str) -> None:
    assert refused(lambda: auth.canonical_request(method, path, "", NOW, NONCE, b"")) == "request.malformed"


def test_new_nonces_are_long_url_safe_and_different() -> None:
    nonces = {auth.new_nonce() for _ in range(50)}
    assert len(nonces) == 50
    assert all(len(n) >= 16 and crypto.b64d(n) for n in nonces)
    assert check(auth.sign_request(KEY, DEVICE_ID, "GET", "/v1/changes", "", b"", NOW, auth.new_nonce()), "GET",
                 "/v1/changes", "", b"") == DEVICE_ID  # fmt: skip


def test_signing_for_a_device_id_the_server_could_not_read_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        auth.sign_request(KEY, "6f1c0e0a-1d2b-4c3d-8e4f-5a6b7c8d9e0f", "GET", "/", "", b"", NOW, NONCE)
