"""A pull fetches pages ahead of writing them (each written in a worker thread), so the server's work and
the wire overlap the phone's writing. Pages are still written in order, each with its
cursor in one transaction; a round cancelled while a page is written returns only once that write has
ended whole; a page fetched ahead that fails to arrive loses nothing written before it."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from mobile.core import casebook, sync_client
from tests.mobile.conftest import GRID_A, Server, fix_in, run


class _Watching(httpx.AsyncBaseTransport):
    """The real in-process transport, noting each `GET /v1/changes` cursor as it is sent."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.cursors: list[int] = []
        self.second_sent = threading.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/changes":
            self.cursors.append(int(request.url.params["cursor"]))
            if len(self.cursors) >= 2:
                self.second_sent.set()
        return await self.inner.handle_async_request(request)


def _cases(server: Server, tmp_path: Path, n: int) -> list[str]:
    worker = server.device(tmp_path / "worker", "zhang.wei")
    ids = [worker.report(category="0101", location=fix_in(GRID_A), description=f"case {i}") for i in range(n)]
    assert run(worker.sync()).ok
    return ids


def _supervisor(server: Server, tmp_path: Path) -> tuple[Any, _Watching]:
    watching = _Watching(server.transport)
    server.transport = watching
    sup = server.device(tmp_path / "sup", "chen.jing", role="supervisor")
    watching.cursors.clear()
    return sup, watching


def test_the_next_page_is_asked_for_while_the_current_one_is_written(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _cases(server, tmp_path, 5)
    monkeypatch.setattr(sync_client, "PAGE", 2)
    sup, watching = _supervisor(server, tmp_path)
    put = casebook.put_server_cases
    overlapped: list[bool] = []

    def slow_put(conn: Any, cases: Any) -> Any:
        if not overlapped:  # the first page: hold its write until the second page has been asked for
            overlapped.append(watching.second_sent.wait(timeout=10))
        return put(conn, cases)

    monkeypatch.setattr(casebook, "put_server_cases", slow_put)
    report = run(sup.sync())
    assert report.ok and report.cases_received == 5
    assert overlapped == [True], "the second page was not asked for while the first was written"
    assert watching.cursors == sorted(watching.cursors) and len(watching.cursors) == 3
    held = {r[0] for r in sup.store.all("SELECT case_id FROM server_cases")}
    assert held == set(ids)
    assert int(sup.store.state("cursor") or 0) > 0


def test_fetching_runs_ahead_of_writing_the_third_page_is_asked_for_during_the_first_write(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server prepares the next page while the phone still writes an earlier one: each page is
    asked for as soon as the one before it has arrived, not once the page before that is written."""
    ids = _cases(server, tmp_path, 5)
    monkeypatch.setattr(sync_client, "PAGE", 2)
    sup, watching = _supervisor(server, tmp_path)
    third_sent = threading.Event()
    inner = watching.handle_async_request

    async def noting(request: httpx.Request) -> httpx.Response:
        response = await inner(request)
        if len(watching.cursors) >= 3:
            third_sent.set()
        return response

    monkeypatch.setattr(watching, "handle_async_request", noting)
    put = casebook.put_server_cases
    ahead: list[bool] = []

    def slow_put(conn: Any, cases: Any) -> Any:
        if not ahead:  # the first page: hold its write until the third page has been asked for
            ahead.append(third_sent.wait(timeout=5))
        return put(conn, cases)

    monkeypatch.setattr(casebook, "put_server_cases", slow_put)
    report = run(sup.sync())
    assert report.ok and report.cases_received == 5
    assert ahead == [True], "the third page was not asked for while the first was written"
    assert watching.cursors == sorted(watching.cursors) and len(watching.cursors) == 3
    assert {r[0] for r in sup.store.all("SELECT case_id FROM server_cases")} == set(ids)


def test_a_round_cancelled_during_a_page_write_returns_after_the_write_ends_whole(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _cases(server, tmp_path, 3)
    sup, _ = _supervisor(server, tmp_path)
    put = casebook.put_server_cases
    entered, release = threading.Event(), threading.Event()

    def held_put(conn: Any, cases: Any) -> Any:
        entered.set()
        release.wait(timeout=10)
        return put(conn, cases)

    monkeypatch.setattr(casebook, "put_server_cases", held_put)

    async def cancel_mid_write() -> None:
        task = asyncio.ensure_future(sup.sync())
        await asyncio.to_thread(entered.wait, 10)
        task.cancel()
        await asyncio.sleep(0.05)
        assert not task.done(), "the cancelled round returned while its page was still being written"
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(cancel_mid_write())
    assert not sup.store.conn.in_transaction
    held = {r[0] for r in sup.store.all("SELECT case_id FROM server_cases")}
    assert held == set(ids)  # the page in flight was committed whole, with its cursor
    assert int(sup.store.state("cursor") or 0) > 0
    monkeypatch.setattr(casebook, "put_server_cases", put)
    assert run(sup.sync()).ok


def test_a_page_that_fails_to_arrive_keeps_every_page_written_before_it(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The third page is fetched while the second is written, and never arrives: the round ends with
    a network problem, the two pages before it are kept with their cursor, the next round goes on."""
    ids = _cases(server, tmp_path, 5)
    monkeypatch.setattr(sync_client, "PAGE", 2)
    sup, watching = _supervisor(server, tmp_path)
    inner = watching.handle_async_request

    async def third_fails(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/changes" and len(watching.cursors) >= 2:
            raise httpx.ConnectError("cut")  # the third page and every retry of it
        return await inner(request)

    monkeypatch.setattr(watching, "handle_async_request", third_fails)
    report = run(sup.sync())
    assert not report.ok and {p.code for p in report.problems} == {"network.unreachable"}
    assert report.cases_received == 4  # two pages written before the third failed
    assert len(sup.store.all("SELECT case_id FROM server_cases")) == 4
    monkeypatch.setattr(watching, "handle_async_request", inner)
    assert run(sup.sync()).ok
    assert {r[0] for r in sup.store.all("SELECT case_id FROM server_cases")} == set(ids)
