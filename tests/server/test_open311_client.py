"""A third-party Open311 client drives every endpoint, in JSON and in XML, against real uvicorn.

The client is `georeport` (PyPI, "Python wrapper for the Open311 GeoReport v2 API"): it reads the
service list, service definitions, requests and one request, in either format (it parses XML with
xmltodict). It has no call for POST, tokens or discovery: those are driven over HTTP with
`requests` (the library georeport itself uses) and the XML parsed by xmltodict, the same way."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import uvicorn
import xmltodict
from georeport import GeoReport

from sync_server.api.app import build_app
from sync_server.open311_intake import issue_key
from tests.faults.processes import free_port
from tests.server.device import SPOT_A, TestDevice


@pytest.fixture
def served(services: Any) -> Iterator[str]:
    """The app over the test's services on real uvicorn, 127.0.0.1 only; its Open311 root URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(build_app(services), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/open311/v2"
    server.should_exit = True
    thread.join(timeout=20)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_georeport_client_reads_and_files_through_every_endpoint(
    served: str, services: Any, worker: TestDevice, supervisor: TestDevice, fmt: str
) -> None:
    op = worker.create(description="井盖破损")
    case_id = op["case_id"]
    worker.push_ops([op])
    supervisor.push_ops([supervisor.move(case_id, "file", department="municipal")])
    worker_case_no = services.store.case(case_id).case_no
    key = issue_key(services.store, "12345 hotline", 10, int(time.time()), by="tester").api_key

    # POST requests (the spec's form fields) and GET tokens: plain HTTP, the same library georeport uses
    form = {"api_key": key, "service_code": "0103", "lat": str(SPOT_A["lat"]), "long": str(SPOT_A["lon"]),
            "description": "热线来电：井盖松动"}  # fmt: skip
    posted = requests.post(f"{served}/requests.{fmt}", data=form, timeout=10)
    assert posted.status_code == 201, posted.text
    answer = (
        posted.json()[0] if fmt == "json" else xmltodict.parse(posted.content)["service_requests"]["request"]
    )
    filed_no, token = answer["service_request_id"], answer["token"]
    by_token = requests.get(f"{served}/tokens/{token}.{fmt}", timeout=10)
    assert by_token.status_code == 200
    if fmt == "json":
        assert by_token.json()[0]["service_request_id"] == filed_no
    else:
        assert (
            xmltodict.parse(by_token.content)["service_requests"]["request"]["service_request_id"] == filed_no
        )
    discovery = requests.get(f"{served}/discovery.{fmt}", timeout=10)
    if fmt == "json":
        endpoint = discovery.json()["endpoints"][0]
    else:
        endpoint = xmltodict.parse(discovery.content)["discovery"]["endpoints"]["endpoint"]
    assert (endpoint["type"], endpoint["specification"]) == (
        "production",
        "http://wiki.open311.org/GeoReport_v2",
    )

    client = GeoReport(served, output_format=fmt)
    services_list = client.get_service_list()
    assert {s["service_code"] for s in services_list} >= {"0101", "0103"}
    definition = client.get_service_definition("0103")
    assert definition["service_code"] == "0103"
    found = client.get_service_requests(status="open")
    found = found if isinstance(found, list) else [found]  # xmltodict: one element is not a list
    assert {r["service_request_id"] for r in found} == {worker_case_no, filed_no}
    both = client.get_service_requests(service_request_id=f"{worker_case_no},{filed_no}")
    assert [r["service_request_id"] for r in both] == [worker_case_no, filed_no]
    one = client.get_service_request(filed_no)
    assert (one["service_request_id"], one["service_code"], one["status"]) == (filed_no, "0103", "open")
    assert one["description"] in (None, "")  # a hotline's report is not public until the centre files it
    filed = client.get_service_request(worker_case_no)
    assert filed["description"] == "井盖破损"
    assert float(filed["lat"]) == round(SPOT_A["lat"], 4)
