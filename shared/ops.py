"""The change-log entry (op): its wire format and strict validation.

Every user action on the phone becomes one op. Ops are validated here the same way on both sides;
the phone refuses to write an invalid op, the server refuses to apply one. Validation checks shape
and ranges only; whether the op is *allowed* is the rules' business (`shared/rules.py`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from shared.errors import GridsyncError
from shared.model import EDITABLE_FIELDS, LOCATION_SOURCES, STAGES

KINDS = ("create", "edit", "transition", "note", "photo", "link_duplicate", "resolve_conflict")

ACTIONS = (
    "file",
    "reject",
    "dispatch",
    "start",
    "send_back",
    "request_extension",
    "approve_extension",
    "deny_extension",
    "report_back",
    "verify",
    "close",
    "rework",
    "reopen",
    "void",
)

MAX_TEXT = 2000
MAX_PUBLIC_TEXT = 4000  # a supervisor's public text of a case (Open311's limit for a description)
MAX_ADDRESS = 200
MAX_PHOTO_BYTES = 20 * 1024 * 1024

_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_WORKER = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_CATEGORY = re.compile(r"^[0-9]{4}$")
_GRID = re.compile(r"^[0-9]{15}$")
_DEPT = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_B64KEY = re.compile(r"^[A-Za-z0-9_-]{43}$")  # 32 bytes, url-safe base64 without padding

_OP_FIELDS = frozenset(
    {"op_id", "device_id", "actor", "seq", "case_id", "base_version", "captured_at", "kind", "payload"}
)


@dataclass(frozen=True, slots=True)
class Op:
    op_id: str
    device_id: str
    actor: str
    seq: int
    case_id: str
    base_version: int
    captured_at: int
    kind: str
    payload: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "op_id": self.op_id,
            "device_id": self.device_id,
            "actor": self.actor,
            "seq": self.seq,
            "case_id": self.case_id,
            "base_version": self.base_version,
            "captured_at": self.captured_at,
            "kind": self.kind,
            "payload": self.payload,
        }


def _bad(detail: str) -> GridsyncError:
    return GridsyncError("op.bad_field", detail)


def _int(value: Any, name: str, lo: int, hi: int) -> int:
    if type(value) is not int or not lo <= value <= hi:
        raise _bad(f"{name} must be an integer in [{lo}, {hi}]")
    return value


def _num(value: Any, name: str, lo: float, hi: float) -> float:
    if type(value) not in (int, float) or not math.isfinite(value) or not lo <= value <= hi:
        raise _bad(f"{name} must be a number in [{lo}, {hi}]")
    return float(value)


def _text(value: Any, name: str, limit: int, *, required: bool = False) -> str:
    """Free text as every store can hold it: valid Unicode text (no lone surrogates) without NUL."""
    if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
        raise _bad(f"{name} must be text of at most {limit} characters" + (", not empty" if required else ""))
    if "\x00" in value:  # PostgreSQL text cannot hold NUL (SQLite can, but every store must)
        raise _bad(f"{name} contains a NUL character")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate ("\\ud83d"): valid JSON, but not text any store holds
            raise _bad(f"{name} contains a lone surrogate, which is not a character") from None
    return value


def validate_text(value: Any, name: str, limit: int, *, required: bool = False) -> str:
    """The ops' rule for free text, for other writers of text (a supervisor's public text): at most
    `limit` characters of valid Unicode (no lone surrogates), no NUL, not blank when `required`.
    Returns `value` unchanged; refused: `op.bad_field` naming `name`."""
    return _text(value, name, limit, required=required)


def _match(value: Any, pattern: re.Pattern[str], name: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _bad(f"{name} is not valid")
    return value


def _only(payload: dict[str, Any], allowed: frozenset[str], kind: str) -> None:
    if payload.keys() <= allowed:  # the usual case, without building a set of the payload's names
        return
    raise _bad(f"{kind} payload has unknown fields: {sorted(payload.keys() - allowed)}")


# Each kind's payload names (and a location's), built once: a set literal passed as an argument is
# built again on every call, and ops are validated one by one on both sides.
_LOCATION_NAMES = frozenset({"lat", "lon", "accuracy_m", "source"})
_PAYLOAD_NAMES = {
    "create": frozenset({"category", "description", "address", "location", "grid_code", "on_spot"}),
    "edit": frozenset({"fields"}),
    "transition": frozenset({"action", "reason", "department", "handler", "hours"}),
    "note": frozenset({"note_id", "text"}),
    "photo": frozenset({"photo_id", "sha256", "size", "stage", "key"}),
    "link_duplicate": frozenset({"duplicate_of", "reason"}),
    "resolve_conflict": frozenset({"conflict_id", "choice"}),
}


def validate_location(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad("location must be an object")
    _only(value, _LOCATION_NAMES, "location")
    if value.get("source") not in LOCATION_SOURCES:
        raise _bad("location.source must be gps, photo or manual")
    return {
        "lat": _num(value.get("lat"), "location.lat", -90, 90),
        "lon": _num(value.get("lon"), "location.lon", -180, 180),
        "accuracy_m": _num(value.get("accuracy_m"), "location.accuracy_m", 0, 100_000),
        "source": value["source"],
    }


def _validate_field(name: str, value: Any) -> Any:
    if name == "category":
        return _match(value, _CATEGORY, "category")
    if name == "description":
        return _text(value, "description", MAX_TEXT)
    if name == "address":
        return _text(value, "address", MAX_ADDRESS)
    if name == "location":
        return validate_location(value)
    if name == "grid_code":
        return value if value == "" else _match(value, _GRID, "grid_code")
    raise _bad(f"{name} is not an editable field")


def _payload(kind: str, p: dict[str, Any]) -> dict[str, Any]:
    if kind == "create":
        _only(p, _PAYLOAD_NAMES[kind], kind)
        out = {name: _validate_field(name, p[name]) for name in EDITABLE_FIELDS if name in p}
        if "category" not in out or "location" not in out:
            raise _bad("create needs category and location")
        on_spot = p.get("on_spot", False)
        if not isinstance(on_spot, bool):
            raise _bad("on_spot must be true or false")
        out["on_spot"] = on_spot
        return out
    if kind == "edit":
        _only(p, _PAYLOAD_NAMES[kind], kind)
        fields = p.get("fields")
        if not isinstance(fields, dict) or not fields:
            raise _bad("edit needs a non-empty fields object")
        return {"fields": {name: _validate_field(name, value) for name, value in fields.items()}}
    if kind == "transition":
        _only(p, _PAYLOAD_NAMES[kind], kind)
        if p.get("action") not in ACTIONS:
            raise _bad("unknown workflow action")
        out = {"action": p["action"], "reason": _text(p.get("reason", ""), "reason", MAX_TEXT)}
        if "department" in p:
            out["department"] = _match(p["department"], _DEPT, "department")
        if "handler" in p:
            out["handler"] = _match(p["handler"], _WORKER, "handler")
        if "hours" in p:
            out["hours"] = _num(p["hours"], "hours", 0.5, 24 * 60)
        return out
    if kind == "note":
        _only(p, _PAYLOAD_NAMES[kind], kind)
        return {
            "note_id": _match(p.get("note_id"), _HEX32, "note_id"),
            "text": _text(p.get("text"), "text", MAX_TEXT, required=True),
        }
    if kind == "photo":
        _only(p, _PAYLOAD_NAMES[kind], kind)
        if p.get("stage") not in STAGES:
            raise _bad("stage must be before, after or verification")
        return {
            "photo_id": _match(p.get("photo_id"), _HEX32, "photo_id"),
            "sha256": _match(p.get("sha256"), _SHA256, "sha256"),
            "size": _int(p.get("size"), "size", 1, MAX_PHOTO_BYTES),
            "stage": p["stage"],
            "key": _match(p.get("key"), _B64KEY, "key"),
        }
    if kind == "link_duplicate":
        _only(p, _PAYLOAD_NAMES[kind], kind)
        return {
            "duplicate_of": _match(p.get("duplicate_of"), _HEX32, "duplicate_of"),
            "reason": _text(p.get("reason", ""), "reason", MAX_TEXT),
        }
    if kind == "resolve_conflict":
        _only(p, _PAYLOAD_NAMES[kind], kind)
        if p.get("choice") not in ("keep", "take"):
            raise _bad("choice must be keep or take")
        return {"conflict_id": _match(p.get("conflict_id"), _HEX32, "conflict_id"), "choice": p["choice"]}
    raise GridsyncError("op.unknown_kind", str(kind)[:40])


def validate_op(obj: Any) -> Op:
    """A checked `Op` from a decoded JSON object, or GridsyncError(op.*)."""
    if not isinstance(obj, dict):
        raise GridsyncError("op.malformed", "an op must be an object")
    if obj.keys() != _OP_FIELDS:
        raise GridsyncError("op.malformed", f"op fields must be exactly {sorted(_OP_FIELDS)}")
    kind = obj["kind"]
    if kind not in KINDS:
        raise GridsyncError("op.unknown_kind", str(kind)[:40])
    payload = obj["payload"]
    if not isinstance(payload, dict):
        raise GridsyncError("op.malformed", "payload must be an object")
    return Op(
        op_id=_match(obj["op_id"], _HEX32, "op_id"),
        device_id=_match(obj["device_id"], _HEX32, "device_id"),
        actor=_match(obj["actor"], _WORKER, "actor"),
        seq=_int(obj["seq"], "seq", 1, 2**62),
        case_id=_match(obj["case_id"], _HEX32, "case_id"),
        base_version=_int(obj["base_version"], "base_version", 0, 2**62),
        captured_at=_int(obj["captured_at"], "captured_at", 0, 2**40),
        kind=kind,
        payload=_payload(kind, payload),
    )


def encode_ops(ops: list[Op]) -> bytes:
    """The plaintext of a segment: a JSON array of ops, compact, UTF-8."""
    return json.dumps([op.to_dict() for op in ops], ensure_ascii=False, separators=(",", ":")).encode()


def decode_ops(data: bytes, *, device_id: str, first_seq: int, count: int) -> list[Op]:
    """Parse and validate a segment's ops against its header: this device, contiguous sequence.

    All or nothing: one bad op refuses the whole segment (nothing is half-applied).
    """
    try:
        items = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise GridsyncError("op.malformed", "segment body is not JSON") from exc
    except RecursionError:  # arrays nested deeper than the parser's stack: no op is built like that
        raise GridsyncError("op.malformed", "segment body is nested too deeply") from None
    if not isinstance(items, list):
        raise GridsyncError("op.malformed", "segment body must be a list of ops")
    if len(items) != count:
        raise GridsyncError("segment.count_mismatch", f"header says {count}, body has {len(items)}")
    ops = []
    for index, item in enumerate(items):
        op = validate_op(item)
        if op.device_id != device_id:
            raise GridsyncError("segment.wrong_device", f"op {index} names another device")
        if op.seq != first_seq + index:
            raise GridsyncError("op.sequence", f"op {index} has seq {op.seq}, expected {first_seq + index}")
        ops.append(op)
    return ops
