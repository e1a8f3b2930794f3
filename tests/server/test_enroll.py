from __future__ import annotations

from typing import Any

import pytest
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from shared import crypto
from shared.catalogue import grids_to_geojson
from sync_server.api.app import build_app
from sync_server.city import City, import_grids
from sync_server.enrollment import create_code
from tests.server import encodings
from tests.server.asgi import asgi_client
from tests.server.device import GRID_A, TestDevice


def test_enrolling_with_a_fresh_code_registers_the_device_and_returns_keys_and_catalogue(
    client: Any, services: Any, clock: Any
) -> None:
    device = TestDevice(client, clock)
    body = device.enroll(create_code(services.store, "zhang.wei", clock.now, 3600))
    assert len(body["device_id"]) == 32
    assert body["worker"] == {
        "worker_id": "zhang.wei", "name": "张伟", "role": "worker", "grids": [GRID_A], "department": None,
        "all_grids": False,
    }  # fmt: skip
    assert body["server"]["signing_key_id"] == services.keys.public.signing_key_id
    assert crypto.key_id(crypto.b64d(body["server"]["signing_key"])).hex() == body["server"]["signing_key_id"]
    assert len(body["catalogue"]["categories"]) == 36
    assert body["catalogue"]["grids"]["type"] == "FeatureCollection"
    assert body["catalogue"]["calendar"]["utc_offset_minutes"] == 480
    assert body["apply_mode"] == "now"
    assert services.store.device(body["device_id"]).worker_id == "zhang.wei"


def test_a_wrong_code_is_refused_with_enroll_bad_code(client: Any, clock: Any) -> None:
    response = client.post("/v1/enroll", json=TestDevice(client, clock).enroll_body("AAAA-BBBB-CCCC"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "enroll.bad_code"


def test_a_code_works_only_once(client: Any, services: Any, clock: Any) -> None:
    code = create_code(services.store, "zhang.wei", clock.now, 3600)
    TestDevice(client, clock).enroll(code)
    again = client.post("/v1/enroll", json=TestDevice(client, clock).enroll_body(code))
    assert again.status_code == 403
    assert again.json()["error"]["code"] == "enroll.bad_code"
    assert len(services.store.devices()) == 1


def test_an_expired_code_is_refused(client: Any, services: Any, clock: Any) -> None:
    code = create_code(services.store, "zhang.wei", clock.now, 60)
    clock.now += 61
    response = client.post("/v1/enroll", json=TestDevice(client, clock).enroll_body(code))
    assert response.json()["error"]["code"] == "enroll.bad_code"


def test_a_code_is_accepted_without_dashes_and_in_lower_case(client: Any, services: Any, clock: Any) -> None:
    code = create_code(services.store, "zhang.wei", clock.now, 3600)
    TestDevice(client, clock).enroll(code.replace("-", "").lower())


def test_bad_device_keys_are_refused_and_the_code_is_not_spent(
    client: Any, services: Any, clock: Any
) -> None:
    code = create_code(services.store, "zhang.wei", clock.now, 3600)
    body = TestDevice(client, clock).enroll_body(code)
    body["signing_key"] = "not-a-key"
    response = client.post("/v1/enroll", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "enroll.bad_key"
    TestDevice(client, clock).enroll(code)


def test_a_malformed_enroll_body_is_request_malformed_not_a_422(client: Any) -> None:
    response = client.post("/v1/enroll", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "request.malformed"
    assert set(error) == {"code", "message", "message_zh", "detail"}


def test_the_enrollment_answer_is_byte_for_byte_what_fastapi_made_of_the_answer_dict(
    client: Any, services: Any, clock: Any
) -> None:
    code = create_code(services.store, "zhang.wei", clock.now, 3600)
    response = client.post("/v1/enroll", json=TestDevice(client, clock).enroll_body(code))
    assert response.status_code == 200
    answer = {  # as the route returned it before the answer was made as bytes
        "device_id": response.json()["device_id"],
        "worker": services.store.worker("zhang.wei").to_dict(),
        "server": services.keys.public.to_dict(),
        "catalogue": services.cities.get().to_dict(),
        "apply_mode": services.config.apply_mode,
    }
    fastapi_made = JSONResponse(jsonable_encoder(answer))
    assert response.content == fastapi_made.body
    assert response.headers["content-type"] == fastapi_made.headers["content-type"]
    assert response.headers["content-length"] == fastapi_made.headers["content-length"]


def test_a_city_is_encoded_once_for_every_phone_enrolling_in_it_and_again_when_it_changes(
    client: Any, services: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded: list[int] = []
    to_dict = City.to_dict

    def counted(city: City) -> dict[str, Any]:
        encoded.append(city.version)
        return to_dict(city)

    monkeypatch.setattr(City, "to_dict", counted)
    for worker_id in ("zhang.wei", "li.na", "chen.sup"):
        TestDevice(client, clock).enroll(create_code(services.store, worker_id, clock.now, 3600))
    assert len(encoded) == 1
    import_grids(services.store, grids_to_geojson([services.cities.get().catalogue.grids[GRID_A]]))
    body = TestDevice(client, clock).enroll(create_code(services.store, "wang.h", clock.now, 3600))
    assert [f["properties"]["code"] for f in body["catalogue"]["grids"]["features"]] == [GRID_A]
    assert len(encoded) == 2 and encoded[1] > encoded[0]


def test_the_event_loop_never_encodes_an_enrollment_answer(
    services: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one thread encodes an MB of city, every other request of the process waits if that
    thread is the event loop's."""
    seen = encodings.record(monkeypatch, '"FeatureCollection"')
    with asgi_client(seen.wrap(build_app(services))) as client:
        body = TestDevice(client, clock).enroll(create_code(services.store, "zhang.wei", clock.now, 3600))
    assert body["catalogue"]["grids"]["features"]
    assert seen.marked_on, "the catalogue was encoded somewhere"
    assert not seen.on_the_loop
