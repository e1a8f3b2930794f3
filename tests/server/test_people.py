from __future__ import annotations

from typing import Any

import pytest
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from sync_server.api.app import build_app
from sync_server.enrollment import create_code
from tests.server import encodings
from tests.server.asgi import asgi_client
from tests.server.device import TestDevice


def test_the_people_list_names_every_worker_by_id_name_and_role_only(services: Any, worker: Any) -> None:
    response = worker.get("/v1/people")
    assert response.status_code == 200
    listed = {  # as the route returned it before the answer was made as bytes
        "people": [
            {"worker_id": w.worker_id, "name": w.name, "role": w.role} for w in services.store.workers()
        ]
    }
    assert len(listed["people"]) == 5
    fastapi_made = JSONResponse(jsonable_encoder(listed))
    assert response.content == fastapi_made.body
    assert response.headers["content-type"] == fastapi_made.headers["content-type"]


def test_the_event_loop_never_encodes_the_people_list(
    services: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A city's 9,311 workers take ~0.1 s to encode through FastAPI: every other request of the
    process would wait if the event loop did it."""
    seen = encodings.record(monkeypatch, '"people"')
    with asgi_client(seen.wrap(build_app(services))) as client:
        phone = TestDevice(client, clock)
        phone.enroll(create_code(services.store, "zhang.wei", clock.now, 3600))
        response = phone.get("/v1/people")
    assert response.status_code == 200 and len(response.json()["people"]) == 5
    assert seen.marked_on, "the list was encoded somewhere"
    assert not seen.on_the_loop
