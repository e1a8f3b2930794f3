"""Request signing: every HTTP request except enrollment carries the device's Ed25519 signature.

The device signs a canonical string built from the method, the path as sent on the wire (percent-encoded,
e.g. httpx `request.url.raw_path` without its query, ASGI `scope["raw_path"]`), the query with its
parameters sorted, the timestamp, a nonce and the SHA-256 of the body:

    GRIDSYNC-REQ-V1\\n{METHOD}\\n{path}\\n{sorted query}\\n{timestamp}\\n{nonce}\\n{sha256 hex of body}

Pure: `now` is passed in and no key material is handled here beyond calling shared/crypto.py.

Replay protection is split. This module refuses a timestamp outside the window, so a captured request
is only worth replaying for `window_s` seconds; within that window the *server* must refuse a nonce it
has already seen for the device (request.replayed), remembering nonces for at least 2 × window_s. It
has storage, this module does not.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl, quote, urlencode

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared import crypto
from shared.errors import GridsyncError

HEADER_DEVICE = "X-Gridsync-Device"
HEADER_TIMESTAMP = "X-Gridsync-Timestamp"
HEADER_NONCE = "X-Gridsync-Nonce"
HEADER_SIGNATURE = "X-Gridsync-Signature"
SIGNED_HEADERS = (HEADER_DEVICE, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE)

CANONICAL_PREFIX = "GRIDSYNC-REQ-V1"
DEFAULT_WINDOW_S = 300

_DEVICE_ID = re.compile(r"[0-9a-f]{32}")
_TIMESTAMP = re.compile(r"0|[1-9][0-9]{0,11}")  # one spelling per number
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,128}")
_METHOD = re.compile(r"[A-Z]{1,16}")
_PATH = re.compile(r"/[\x21-\x7e]*")  # printable ASCII, no spaces: what a request line can carry


def new_nonce() -> str:
    """24 url-safe characters from 18 random bytes."""
    return crypto.b64e(os.urandom(18))


def canonical_query(query: str) -> str:
    """The query with its parameters decoded, sorted by name then value, and encoded one way."""
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return urlencode(pairs, quote_via=quote, safe="-._~")


def canonical_request(method: str, path: str, query: str, timestamp: int, nonce: str, body: bytes) -> bytes:
    """The exact bytes the device signs. Malformed parts are request.malformed."""
    method = method.upper()
    if not _METHOD.fullmatch(method) or not _PATH.fullmatch(path) or not _NONCE.fullmatch(nonce):
        raise GridsyncError("request.malformed", "method, path or nonce cannot be signed")
    lines = (
        CANONICAL_PREFIX,
        method,
        path,
        canonical_query(query),
        str(timestamp),
        nonce,
        crypto.sha256_hex(body),
    )
    return "\n".join(lines).encode("utf-8")


def sign_request(
    key: Ed25519PrivateKey,
    device_id: str,
    method: str,
    path: str,
    query: str,
    body: bytes,
    now: int,
    nonce: str,
) -> dict[str, str]:
    """The four headers that authenticate one request (use `new_nonce()` for `nonce`)."""
    if not _DEVICE_ID.fullmatch(device_id):
        raise ValueError("device_id must be 32 lowercase hex digits (uuid.hex)")
    message = canonical_request(method, path, query, now, nonce, body)
    return {
        HEADER_DEVICE: device_id,
        HEADER_TIMESTAMP: str(now),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: crypto.b64e(crypto.sign(key, message)),
    }


def _signed_headers(headers: Mapping[str, str]) -> dict[str, str]:
    wanted = {name.lower() for name in SIGNED_HEADERS}
    found: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in wanted:
            if found.get(lower, value) != value:
                raise GridsyncError("request.malformed", f"{name} given twice")
            found[lower] = value
    if any(not found.get(name) for name in wanted):
        raise GridsyncError("request.unsigned")
    return found


def check_request(
    headers: Mapping[str, str],
    method: str,
    path: str,
    query: str,
    body: bytes,
    *,
    public_key_for: Callable[[str], bytes | None],
    now: int,
    window_s: int = DEFAULT_WINDOW_S,
) -> str:
    """The device id of a correctly signed, fresh request; otherwise a GridsyncError:

    request.unsigned (a header missing), request.malformed (a header unreadable), device.unknown
    (`public_key_for` returned None; it may itself raise device.revoked), request.bad_signature,
    request.expired. The clock is judged after the signature, so "check your phone's time" is only
    ever said to the real device. Nonce uniqueness is the caller's job (see the module docstring).
    """
    found = _signed_headers(headers)
    device_id = found[HEADER_DEVICE.lower()]
    timestamp_text = found[HEADER_TIMESTAMP.lower()]
    nonce = found[HEADER_NONCE.lower()]
    if not _DEVICE_ID.fullmatch(device_id) or not _TIMESTAMP.fullmatch(timestamp_text):
        raise GridsyncError("request.malformed", "device id or timestamp unreadable")
    signature = crypto.b64d(found[HEADER_SIGNATURE.lower()])
    if len(signature) != crypto.SIGNATURE_LEN:
        raise GridsyncError("request.malformed", "signature has the wrong length")
    timestamp = int(timestamp_text)
    message = canonical_request(method, path, query, timestamp, nonce, body)
    public_raw = public_key_for(device_id)
    if public_raw is None:
        raise GridsyncError("device.unknown")
    if not crypto.verify(public_raw, signature, message):
        raise GridsyncError("request.bad_signature")
    if abs(now - timestamp) > window_s:
        raise GridsyncError("request.expired", f"{timestamp - now:+d} s from the server's clock")
    return device_id
