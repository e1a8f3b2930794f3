"""Every integer that reaches SQL is bounded: out of range is a clear 400 with a stable code,
never an OverflowError (a plain-text 500)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.device import TestDevice, hex32

TOO_BIG = [2**63, 2**64, 10**30]


def _code(response: Any) -> str:
    assert response.status_code == 400, response.text
    code: str = response.json()["error"]["code"]
    return code


@pytest.mark.parametrize("value", TOO_BIG)
def test_a_changes_cursor_beyond_64_bits_is_refused(worker: TestDevice, value: int) -> None:
    assert _code(worker.get("/v1/changes", f"cursor={value}&limit=10")) == "request.malformed"


@pytest.mark.parametrize("value", [*TOO_BIG, -(2**63) - 1])
def test_a_changes_limit_out_of_range_is_refused(worker: TestDevice, value: int) -> None:
    assert _code(worker.get("/v1/changes", f"cursor=0&limit={value}")) == "request.malformed"


def test_the_largest_cursor_a_store_holds_is_answered(worker: TestDevice) -> None:
    assert worker.get("/v1/changes", f"cursor={2**63 - 1}&limit=10").status_code == 200


@pytest.mark.parametrize(("offset", "size"), [(2**63, 1000), (0, 2**63), (10**30, 10**30)])
def test_a_photo_offset_or_size_beyond_64_bits_is_refused(worker: TestDevice, offset: int, size: int) -> None:
    path, query = f"/v1/photos/{'a' * 64}", f"offset={offset}&size={size}"
    headers = worker.headers("PUT", path, query, b"x")
    response = worker.client.put(f"{path}?{query}", content=b"x", headers=headers)
    assert _code(response) == "request.malformed"


@pytest.mark.parametrize("field", ["base_version", "captured_at", "seq"])
@pytest.mark.parametrize("value", [2**63, -(2**63) - 1])
def test_an_op_integer_beyond_its_range_is_a_bad_field(worker: TestDevice, field: str, value: int) -> None:
    case_id = hex32()
    worker.push_ops([worker.create(case_id)])
    note = worker.note(case_id)
    note["seq"] = worker.next_seq
    note[field] = value
    blob = worker.seal([note], advance=False, payload=_json([note]))
    assert _code(worker.push(blob)) in ("op.bad_field", "op.sequence")


@pytest.mark.parametrize("first_seq", [2**62 + 1, 2**63, 2**64 - 1])
def test_a_segment_header_sequence_beyond_the_op_range_is_refused(
    worker: TestDevice, services: Any, first_seq: int
) -> None:
    note = worker.create()
    blob = worker.seal([note], first_seq=first_seq, advance=False)
    assert _code(worker.push(blob)) in ("segment.malformed", "op.bad_field")
    assert services.store.backlog_size() == 0


def test_a_photo_op_size_beyond_its_range_is_a_bad_field(worker: TestDevice) -> None:
    case_id = hex32()
    worker.push_ops([worker.create(case_id)])
    photo = worker.photo(case_id, "before")
    photo["payload"]["size"] = 2**63
    photo["seq"] = worker.next_seq
    assert _code(worker.push(worker.seal([photo], advance=False, payload=_json([photo])))) == "op.bad_field"


@pytest.mark.parametrize(("lat", "lon"), [(91, 0), (0, 181), (1e308, 0), (-90.0001, 0)])
def test_a_location_outside_the_earth_is_a_bad_field(worker: TestDevice, lat: float, lon: float) -> None:
    create = worker.create()
    create["payload"]["location"].update(lat=lat, lon=lon)
    assert _code(worker.push(worker.seal([create], advance=False))) == "op.bad_field"


def _json(ops: list[dict[str, Any]]) -> bytes:
    import json

    return json.dumps(ops).encode()


@pytest.mark.parametrize("config_overrides", [{"apply_mode": "queue"}])
@pytest.mark.parametrize("first_seq", [0, 2**62 + 1, 2**63, 2**64 - 1])
def test_a_queued_segment_whose_header_sequence_is_out_of_range_is_refused_before_it_is_spooled(
    worker: TestDevice, services: Any, first_seq: int
) -> None:
    blob = worker.seal([worker.create()], first_seq=first_seq, advance=False)
    assert _code(worker.push(blob)) == "segment.malformed"
    assert not services.config.spool_dir.exists() or not list(services.config.spool_dir.iterdir())
