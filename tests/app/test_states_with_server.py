"""Enrollment, sync and case moves through the state classes, against the real server in process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from mobile.app.i18n import Translator
from mobile.app.state.case_detail import CaseState
from mobile.app.state.enroll import EnrollState
from mobile.app.state.home import HomeState
from mobile.app.state.session import AppSession
from mobile.app.state.sync import SyncState
from mobile.core.location import Fix
from mobile.core.views import SyncReport
from tests.mobile.conftest import GRID_A, Clock, Server, fix_in, jpeg


def session(tmp_path: Path, name: str, server: Server, clock: Clock, lang: str = "en") -> AppSession:
    return AppSession(tmp_path / name, device_locales=[lang], clock=clock, transport=server.transport)


def test_a_wrong_code_reads_as_words_and_a_pasted_link_enrolls(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    app = session(tmp_path, "phone", server, clock, "zh-CN")
    state = EnrollState(app.device, app.tr)
    state.set_server(server.url)
    state.set_code("AAAA-BBBB-CCCC")
    assert asyncio.run(state.submit()) is None
    assert state.problem is not None and state.problem.message == "注册码错误、已使用或已过期。"
    code = server.add_worker("zhang.wei", grids=(GRID_A,))
    state.set_code(f"gridsync://enroll?server={server.url}&code={code}")
    identity = asyncio.run(state.submit())
    assert identity is not None and identity.worker_id == "zhang.wei" and state.problem is None
    assert app.enrolled
    app.close()


def test_an_offline_round_says_the_work_is_safe_and_a_later_round_sends_it(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    code = server.add_worker("zhang.wei", grids=(GRID_A,))
    app = session(tmp_path, "phone", server, clock)
    asyncio.run(app.device.enroll(server.url, code))
    case_id = app.device.report(
        category="0101", location=fix_in(GRID_A, clock()), photos=[(jpeg(1), "before")]
    )
    sync = SyncState(app.device, app.tr, clock=clock)
    assert sync.pending_lines() == ["Reports to upload: 1", "Photos to upload: 1"]
    # The same phone, but the server is not reachable: a dead transport.
    offline = AppSession(
        tmp_path / "phone",
        device_locales=["en"],
        clock=clock,
        secrets=app.secrets,
        transport=_DeadTransport(),
    )
    app.close()
    report = asyncio.run(one_background_round(offline))
    assert not report.reached_server
    assert SyncState(offline.device, offline.tr).result_text(report).startswith("No network.")
    offline.close()
    online = AppSession(
        tmp_path / "phone",
        device_locales=["en"],
        clock=clock,
        secrets=app.secrets,
        transport=server.transport,
    )
    state = SyncState(online.device, online.tr, clock=clock, background=online.background)
    report = asyncio.run(one_background_round(online))
    assert report.ok and state.pending_lines() == ["Everything is uploaded."]
    assert state.result_text(report).startswith("Synced: sent 2")
    assert server.case(case_id) is not None
    online.close()


def test_a_supervisor_files_through_the_case_state_and_a_worker_cannot(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    worker = server.device(tmp_path / "w", "zhang.wei", grids=(GRID_A,))
    case_id = worker.report(category="0101", location=fix_in(GRID_A, clock()), photos=[(jpeg(2), "before")])
    asyncio.run(worker.sync())
    boss = server.device(tmp_path / "s", "wang.fang", role="supervisor", all_grids=True)
    asyncio.run(boss.sync())
    tr = Translator("en")
    as_worker = CaseState(worker, tr, case_id)
    assert as_worker.actions() == []
    state = CaseState(boss, tr, case_id)
    assert [a.action for a in state.actions()] == ["file", "reject", "void"]
    assert state.departments()[0][0] == "municipal"  # the category's own department first
    reject = next(a for a in state.actions() if a.action == "reject")
    assert reject.needs_reason and not state.perform("reject")
    assert state.error == "A reason is required for this step."
    assert state.perform("file", department="municipal")
    assert state.message == "Saved: File and dispatch"
    assert boss.case(case_id).case.status == "dispatched"  # type: ignore[union-attr]
    rows = HomeState(boss, tr).rows()
    assert [(r.status_label, r.pending) for r in rows] == [("Dispatched", True)]


def test_a_supervisor_is_offered_the_nearby_report_and_links_the_later_one_as_its_duplicate(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    """The server's possible duplicates reach the supervisor's case screen, nearest first, with how far
    they lie; linking saves the move, and the server files the later report as a duplicate."""
    worker = server.device(tmp_path / "w", "zhang.wei", grids=(GRID_A,))
    centre = fix_in(GRID_A, clock())
    first = worker.report(category="0101", location=centre, description="井盖破损")
    asyncio.run(worker.sync())
    north = Fix(centre.lat + 12 / 111_195, centre.lon, 8.0, clock(), "gps")  # ~12 m north
    second = worker.report(category="0101", location=north, description="井盖又破了")
    asyncio.run(worker.sync())
    assert server.case(second).possible_duplicates == [first]
    boss = server.device(tmp_path / "s", "wang.fang", role="supervisor", all_grids=True)
    asyncio.run(boss.sync())
    tr = Translator("en")
    assert CaseState(worker, tr, second).duplicate_suggestions() == []  # a worker links nothing
    assert CaseState(boss, tr, first).duplicate_suggestions() == []  # the first has none
    state = CaseState(boss, tr, second)
    [offered] = state.duplicate_suggestions()
    assert offered.case_id == first and offered.distance_m is not None and 11 < offered.distance_m < 13
    assert (
        offered.title.endswith("· Reported")
        and "12 m away" in offered.detail
        and "井盖破损" in offered.detail
    )
    assert state.link_duplicate(first)
    assert state.message == "Saved: Link as duplicate"
    assert boss.case(second).case.status == "duplicate"  # type: ignore[union-attr]
    assert state.duplicate_suggestions() == []  # a duplicate is linked once
    asyncio.run(boss.sync())
    filed = server.case(second)
    assert filed.status == "duplicate" and filed.duplicate_of == first


async def one_background_round(app: AppSession) -> SyncReport:
    """Start the session's background sync, which syncs at once, and stop it after that round."""
    app.background.start()
    try:
        while app.background.loop.rounds == 0:
            await asyncio.sleep(0.01)
    finally:
        await app.background.stop()
    report = app.device.last_sync()
    assert report is not None
    return report


class _DeadTransport(httpx.AsyncBaseTransport):
    """No network at all: every request fails to connect."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no route to host", request=request)


def test_the_handlers_welcome_names_the_department_in_the_app_language(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    from shared.catalogue import Department

    code = server.add_worker("chen.gang", role="handler", department="municipal", all_grids=True)
    for lang in ("zh-CN", "en"):
        app = session(tmp_path, f"phone-{lang}", server, clock, lang)
        state = EnrollState(app.device, app.tr)
        state.set_server(server.url)
        state.set_code(
            code
            if lang == "zh-CN"
            else server.add_worker("chen.gang", role="handler", department="municipal", all_grids=True)
        )
        assert asyncio.run(state.submit()) is not None
        dept: Department = next(d for d in app.device.departments() if d.code == "municipal")
        lines = state.welcome_lines()
        assert app.tr.t("enroll.department", department=dept.name(app.tr.lang)) in lines, lines
        assert not any("municipal" in line for line in lines), lines
        app.close()
