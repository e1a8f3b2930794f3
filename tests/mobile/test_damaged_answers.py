"""An answer that arrives damaged — a gzip-compressed receipt cut on the way — is a network problem
of this round, like a connection that broke: the phone keeps its work and the next round settles it.
(It is not a fault of the phone's code, which the round would otherwise report it as.)"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.mobile.conftest import GRID_A, Server, fix_in, run


class DamagedGzipAnswers(httpx.AsyncBaseTransport):
    """In front of the real server: while `damage` is set, a gzip-compressed answer loses its second
    half ("cut") or has its deflate data overwritten ("garble": httpx cannot decode it)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, damage: str) -> None:
        self.inner = inner
        self.damage = damage
        self.cut = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
        await response.aclose()
        if self.damage and response.headers.get("content-encoding") == "gzip":
            half = len(raw) // 2
            raw = raw[:half] if self.damage == "cut" else raw[:10] + b"\xff" * (len(raw) - 10)
            self.cut += 1
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() != "content-length"]
        return httpx.Response(
            response.status_code, headers=headers, stream=httpx.ByteStream(raw), request=request
        )


@pytest.mark.parametrize("damage", ["cut", "garble"])
def test_a_receipt_damaged_on_the_way_is_a_network_problem_and_the_next_round_settles(
    server: Server, tmp_path: Path, damage: str
) -> None:
    phone = server.device(tmp_path / "p", "zhang.wei")
    for i in range(20):  # a receipt of twenty outcomes: over the size the server compresses
        phone.report(category="0101", location=fix_in(GRID_A), description=f"井盖 {i}")
    cutter = DamagedGzipAnswers(server.transport, damage)
    phone.transport = cutter

    damaged = run(phone.sync())

    assert cutter.cut == 1
    assert not damaged.ok
    assert [p.code for p in damaged.problems] == ["network.unreachable"]  # not device.internal
    assert phone.pending().ops == 20  # applied on the server, not yet settled here: kept

    cutter.damage = ""
    settled = run(phone.sync())
    assert settled.ok and phone.pending().empty
    assert len(server.services.store.device_outcomes(phone.identity.device_id, 0, 100)) >= 20
