"""Background sync as the screens see it: the core's sync loop under the session, against the real
server in process — a round on start, on resume and after a write, and "sync now" shown as under way
until the round it asked for has ended."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from mobile.app.state.background import BackgroundSync
from mobile.app.state.session import AppSession
from mobile.app.state.sync import SyncState
from tests.mobile.conftest import GRID_A, Clock, Server, fix_in, jpeg


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        assert loop.time() < end, "condition not reached in time"
        await asyncio.sleep(0.01)


def enrolled(tmp_path: Path, server: Server, clock: Clock) -> AppSession:
    code = server.add_worker("zhang.wei", grids=(GRID_A,))
    app = AppSession(tmp_path / "phone", device_locales=["en"], clock=clock, transport=server.transport)
    asyncio.run(app.device.enroll(server.url, code))
    return app


def test_the_session_syncs_on_start_and_again_shortly_after_a_local_write(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    app = enrolled(tmp_path, server, clock)
    first = app.device.report(category="0101", location=fix_in(GRID_A, clock()), photos=[(jpeg(1), "before")])
    background = BackgroundSync(app.device, write_delay=0.05)

    async def scenario() -> None:
        background.start()
        await until(lambda: server.case(first) is not None and app.device.pending().empty)
        second = app.device.report(category="0102", location=fix_in(GRID_A, clock()))
        await until(lambda: server.case(second) is not None and app.device.pending().empty)
        await background.stop()

    asyncio.run(scenario())
    assert not background.loop.running
    app.close()


def test_sync_now_shows_a_round_under_way_until_the_round_it_asked_for_has_ended(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    app = enrolled(tmp_path, server, clock)
    state = SyncState(app.device, app.tr, clock=clock, background=app.background)
    told: list[bool] = []
    app.background.listen(lambda: told.append(state.running))

    async def scenario() -> None:
        app.background.start()
        await until(lambda: app.background.loop.rounds == 1 and not app.background.busy)
        assert not state.running
        app.device.report(category="0101", location=fix_in(GRID_A, clock()))
        state.sync_now()
        assert state.running and told[-1]  # at once, before the loop has even woken
        await until(lambda: not state.running)
        assert app.background.loop.rounds >= 2 and app.device.pending().empty
        await app.background.stop()

    asyncio.run(scenario())
    assert told[-1] is False
    assert state.last_round_text().startswith("Last sync round")
    app.close()


def test_coming_back_to_the_foreground_syncs_at_once(tmp_path: Path, server: Server, clock: Clock) -> None:
    app = enrolled(tmp_path, server, clock)

    async def scenario() -> None:
        app.background.start()
        await until(lambda: app.background.loop.rounds == 1 and not app.background.busy)
        app.background.resume()  # the timer is two minutes away: only the resume can start this round
        await until(lambda: app.background.loop.rounds == 2)
        await app.background.stop()

    asyncio.run(scenario())
    app.close()


def test_a_phone_not_enrolled_never_shows_a_round_that_cannot_come(tmp_path: Path, clock: Clock) -> None:
    app = AppSession(tmp_path / "new", device_locales=["en"], clock=clock)
    state = SyncState(app.device, app.tr, background=app.background)

    async def scenario() -> None:
        app.background.start()
        state.sync_now()
        app.background.resume()
        assert not state.running and not app.background.loop.running

    asyncio.run(scenario())
    app.close()


def test_signing_out_stops_background_sync_before_the_store_is_wiped(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    app = enrolled(tmp_path, server, clock)

    async def scenario() -> None:
        app.background.start()
        await until(lambda: app.background.loop.rounds == 1)
        await app.sign_out()
        assert not app.background.loop.running and not app.enrolled
        await app.aclose()

    asyncio.run(scenario())
