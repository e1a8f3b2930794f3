"""`Device.set_public_text`: a supervisor's public text for a case, sent at once over the signed API
to the real server (in process); what the city's Open311 feed then publishes. Online only."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from mobile.core.device import Device
from mobile.core.errors import NetworkError
from mobile.core.secrets import MemorySecretStore
from shared.errors import GridsyncError
from shared.ops import MAX_PUBLIC_TEXT
from tests.mobile.conftest import GRID_A, GRID_B, Clock, Server, fix_in, jpeg, run
from tests.mobile.transports import FaultyTransport


def reported_case(tmp_path: Path, server: Server, clock: Clock) -> str:
    worker = server.device(tmp_path / "w", "zhang.wei", grids=(GRID_A,))
    case_id = worker.report(
        category="0101",
        location=fix_in(GRID_A, clock()),
        photos=[(jpeg(3), "before")],
        description="电话13812345678",
    )
    assert run(worker.sync()).ok
    return case_id


def feed_description(server: Server, case_id: str) -> object:
    """What anyone on the internet reads as the case's description in the Open311 feed."""

    async def read() -> object:
        async with httpx.AsyncClient(transport=server.transport, base_url=server.url) as client:
            response = await client.get(f"/open311/v2/requests/{server.case(case_id).case_no}.json")
            return response.json()[0]["description"]

    return run(read())


def test_a_supervisors_public_text_is_what_open311_publishes(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    case_id = reported_case(tmp_path, server, clock)
    boss = server.device(tmp_path / "s", "chen.sup", role="supervisor", grids=(GRID_A,))
    answer = run(boss.set_public_text(case_id, " 二马路井盖破损 "))
    assert (answer["case_id"], answer["text"], answer["edited_at"]) == (case_id, "二马路井盖破损", clock())
    assert feed_description(server, case_id) == "二马路井盖破损"
    [edit] = server.services.store.public_text_edits(case_id)
    assert edit.edited_by == f"chen.sup (device {boss.identity.device_id})"  # type: ignore[union-attr]


def test_refusals_change_nothing(tmp_path: Path, server: Server, clock: Clock) -> None:
    case_id = reported_case(tmp_path, server, clock)
    worker = server.devices[0]
    with pytest.raises(GridsyncError) as refused:
        run(worker.set_public_text(case_id, "随便写"))
    assert refused.value.code == "case.not_allowed"
    elsewhere = server.device(tmp_path / "b", "sun.sup", role="supervisor", grids=(GRID_B,))
    with pytest.raises(GridsyncError) as refused:
        run(elsewhere.set_public_text(case_id, "别的城区"))
    assert refused.value.code == "case.unknown"  # from the server: a case she may not see
    boss = server.device(tmp_path / "s", "chen.sup", role="supervisor", grids=(GRID_A,))
    for bad in ("   ", "a\x00b", "\ud83d", "x" * (MAX_PUBLIC_TEXT + 1)):
        with pytest.raises(GridsyncError) as refused:
            run(boss.set_public_text(case_id, bad))
        assert refused.value.code == "request.malformed"
    assert server.services.store.public_text_edits() == []
    assert feed_description(server, case_id) is None


def test_offline_it_raises_a_network_error_and_nothing_is_queued(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    case_id = reported_case(tmp_path, server, clock)
    network = {"state": "pass"}
    transport = FaultyTransport(server.transport, decide=lambda _: network["state"])
    boss = Device.open(tmp_path / "s", MemorySecretStore(), clock=clock, transport=transport)
    boss.retry_delay = 0.0
    server.devices.append(boss)
    run(boss.enroll(server.url, server.add_worker("chen.sup", role="supervisor", grids=(GRID_A,))))
    network["state"] = "down"
    with pytest.raises(NetworkError):
        run(boss.set_public_text(case_id, "二马路井盖破损"))
    network["state"] = "pass"
    assert run(boss.sync()).ok  # nothing was queued to go up later
    assert server.services.store.public_text_edits() == []
    assert run(boss.set_public_text(case_id, "二马路井盖破损"))["text"] == "二马路井盖破损"
