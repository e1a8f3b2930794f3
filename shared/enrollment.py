"""The enrollment link an admin hands a worker (as text or as a QR code).

`gridsync://enroll?server=<URL>&code=<CODE>&fp=<server signing key id, 16 hex>`. The phone pins the
server key whose id matches `fp`; a typed code without the link has no fingerprint to check.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, quote, urlsplit

from shared.errors import GridsyncError

_CODE = re.compile(r"^[A-Z0-9]{4}(-[A-Z0-9]{4}){2}$")
_FP = re.compile(r"^[0-9a-f]{16}$")


def normalise_code(code: str) -> str:
    """Codes are typed by people: accept lower case, spaces and missing dashes."""
    raw = re.sub(r"[^A-Za-z0-9]", "", code).upper()
    if len(raw) != 12:
        raise GridsyncError("enroll.bad_code", "a code has 12 letters and digits")
    out = f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"
    if not _CODE.fullmatch(out):
        raise GridsyncError("enroll.bad_code")
    return out


def enroll_link(server_url: str, code: str, fingerprint: str) -> str:
    return f"gridsync://enroll?server={quote(server_url, safe='')}&code={code}&fp={fingerprint}"


def parse_enroll_link(text: str) -> tuple[str, str, str | None]:
    """(server URL, code, fingerprint or None) from a link; GridsyncError(enroll.bad_code) otherwise."""
    parts = urlsplit(text.strip())
    if parts.scheme != "gridsync" or parts.netloc != "enroll":
        raise GridsyncError("enroll.bad_code", "not a gridsync enrollment link")
    query = parse_qs(parts.query)
    server = query.get("server", [""])[0]
    if not server.startswith(("http://", "https://")):
        raise GridsyncError("enroll.bad_code", "the link has no server address")
    fp = query.get("fp", [None])[0]
    if fp is not None and not _FP.fullmatch(fp):
        raise GridsyncError("enroll.bad_code", "the link's key fingerprint is malformed")
    return server, normalise_code(query.get("code", [""])[0]), fp
