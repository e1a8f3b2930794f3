"""GET /metrics shows what an operator alerts on, read back with prometheus_client's own parser:
requests by route and status class, signature refusals by code, photo uploads by outcome, ingest
runs, sweeps, the store's backlog, quarantine, conflicts, overdue cases, devices and size, and the
build and process. It can be closed behind a bearer token."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sync_server import __version__
from sync_server.enrollment import revoke_device
from sync_server.ingest import run_ingest
from sync_server.services import Services
from sync_server.sweeps import sweep_forever
from tests.server.asgi import SyncClient
from tests.server.device import TestDevice, hex32

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: SyncClient, **headers: str) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def one(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _put(device: TestDevice, sha: str, offset: int, size: int, chunk: bytes) -> Any:
    path, query = f"/v1/photos/{sha}", f"offset={offset}&size={size}"
    return device.client.put(
        f"{path}?{query}", content=chunk, headers=device.headers("PUT", path, query, chunk)
    )


def test_metrics_show_what_an_operator_alerts_on(
    client: SyncClient, services: Services, enrolled: Callable[[str], TestDevice]
) -> None:
    zhang, li = enrolled("zhang.wei"), enrolled("li.na")
    fresh = scrape(client)
    assert one(fresh, "gridsync_build_info", version=__version__, python=os.sys.version.split()[0],
               store="sqlite") == 1  # fmt: skip
    assert one(fresh, "gridsync_devices", state="enrolled") == 2
    assert one(fresh, "gridsync_database_bytes") > 0
    assert one(fresh, "gridsync_process_resident_memory_bytes") > 0
    for name in ("gridsync_backlog_segments", "gridsync_quarantined_segments", "gridsync_open_conflict_cases",
                 "gridsync_overdue_cases"):  # fmt: skip
        assert (name, ()) in fresh, name

    case_id = hex32()
    zhang.push_ops([zhang.create(case_id)])
    assert client.get("/v1/conflicts").status_code == 401  # unsigned
    forged = zhang.headers("GET", "/v1/changes")
    forged["X-Gridsync-Signature"] = li.headers("GET", "/v1/changes")["X-Gridsync-Signature"]
    assert client.get("/v1/changes", headers=forged).status_code == 401
    blob = os.urandom(3000)
    sha = hashlib.sha256(blob).hexdigest()
    assert _put(zhang, sha, 0, len(blob), blob[:1000]).json()["complete"] is False
    assert _put(zhang, sha, 5, len(blob), blob[5:]).status_code == 409  # wrong offset
    assert _put(zhang, sha, 1000, len(blob), blob[1000:]).json()["complete"] is True
    revoke_device(services.store, li.device_id, zhang.clock.now)
    assert li.get("/v1/changes").status_code == 403
    seq = zhang.next_seq
    zhang.push(zhang.seal([zhang.note(case_id)], first_seq=seq + 1, advance=False))  # after a gap: held

    after = scrape(client)
    assert one(after, "gridsync_requests_total", route="/v1/segments", method="POST", status="2xx") == 2
    assert one(after, "gridsync_requests_total", route="/v1/conflicts", method="GET", status="4xx") == 1
    assert one(after, "gridsync_requests_total", route="/metrics", method="GET", status="2xx") == 1
    assert one(after, "gridsync_request_seconds_count", route="/v1/segments") == 2
    assert one(after, "gridsync_auth_refusals_total", code="request.unsigned") == 1
    assert one(after, "gridsync_auth_refusals_total", code="request.bad_signature") == 1
    assert one(after, "gridsync_auth_refusals_total", code="device.revoked") == 1
    assert one(after, "gridsync_photo_uploads_total", outcome="partial") == 1
    assert one(after, "gridsync_photo_uploads_total", outcome="photo.bad_offset") == 1
    assert one(after, "gridsync_photo_uploads_total", outcome="complete") == 1
    assert one(after, "gridsync_photos_bytes_total") == 3000
    assert one(after, "gridsync_segments_total", status="applied") == 1
    assert one(after, "gridsync_segments_total", status="held") == 1
    assert one(after, "gridsync_ops_total", outcome="applied") == 1
    assert one(after, "gridsync_backlog_segments") == 1
    assert (
        one(after, "gridsync_devices", state="enrolled"),
        one(after, "gridsync_devices", state="revoked"),
    ) == (1, 1)


def test_label_values_stay_in_small_fixed_sets(client: SyncClient) -> None:
    assert client.request("BREW", "/health").status_code == 405
    assert client.get("/no/such/" + hex32()).status_code == 404
    samples = scrape(client)
    assert one(samples, "gridsync_requests_total", route="/health", method="other", status="4xx") == 1
    assert one(samples, "gridsync_requests_total", route="unmatched", method="GET", status="4xx") == 1
    assert not any("/no/such" in str(labels) for _, labels in samples)


@pytest.mark.parametrize("config_overrides", [{"metrics_token": "s3cret-scrape"}])
def test_metrics_can_be_closed_behind_a_bearer_token(client: SyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-scrape"}):
        refused = client.get("/metrics", headers=headers)
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "request.forbidden"), headers
    assert one(scrape(client, Authorization="Bearer s3cret-scrape"), "gridsync_build_info", version=__version__,
               python=os.sys.version.split()[0], store="sqlite") == 1  # fmt: skip
    document = client.get("/openapi.json").json()
    assert document["paths"]["/metrics"]["get"]["security"] == [{"metricsToken": []}]
    assert document["components"]["securitySchemes"]["metricsToken"] == {"type": "http", "scheme": "bearer"}


def test_an_ingest_run_and_the_sweeps_are_counted(
    client: SyncClient, services: Services, worker: TestDevice, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "a.seg").write_bytes(worker.seal([worker.create(), worker.create()]))
    (spool / "b.seg").write_bytes(b"not a segment")
    run_ingest(services, spool, progress=False)

    async def sweep_a_while() -> None:
        with anyio.move_on_after(0.5):
            await sweep_forever(services, 0.05)

    anyio.run(sweep_a_while)
    samples = scrape(client)
    assert one(samples, "gridsync_ingest_runs_total") == 1
    assert one(samples, "gridsync_ingest_files_total") == 2
    assert one(samples, "gridsync_ingest_ops_total", outcome="applied") == 2
    assert one(samples, "gridsync_ingest_rejects_total") == 1
    assert one(samples, "gridsync_ingest_seconds_total") > 0
    assert one(samples, "gridsync_sweep_runs_total", outcome="done") >= 2
