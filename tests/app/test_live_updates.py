"""Live updates through the changes feed's long-poll, against the real server in process: a wait
ends when a change this phone may see commits (not at its timeout), ends empty when nothing comes,
is not woken for good by changes the phone may not see; and a phone whose app is open shows another
phone's new report with no sync asked for."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from mobile.app.state.session import AppSession
from tests.app.test_background_sync import until
from tests.mobile.conftest import GRID_A, GRID_B, Clock, Server, fix_in, jpeg


def test_a_wait_ends_when_a_visible_change_commits_and_runs_out_when_none_does(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    watcher = server.device(tmp_path / "a", "zhang.wei", grids=(GRID_A,))
    other_grid = server.device(tmp_path / "b", "li.na", grids=(GRID_B,))
    same_grid = server.device(tmp_path / "c", "wu.lei", grids=(GRID_A,))

    async def scenario() -> None:
        assert (await watcher.sync()).ok
        assert await watcher.changes_waiting(1) is False  # nothing new: the wait runs out (204)

        # a change in another grid does not end the wait; one in the watcher's grid does
        waiting = asyncio.create_task(watcher.changes_waiting(20))
        started = time.monotonic()
        await asyncio.sleep(0.3)
        other_grid.report(category="0101", location=fix_in(GRID_B, clock()), photos=[(jpeg(1), "before")])
        assert (await other_grid.sync()).ok
        await asyncio.sleep(1.5)
        assert not waiting.done()
        case_id = same_grid.report(
            category="0101", location=fix_in(GRID_A, clock()), photos=[(jpeg(2), "before")]
        )
        assert (await same_grid.sync()).ok
        assert await asyncio.wait_for(waiting, 10) is True
        assert time.monotonic() - started < 15  # woken by the change, not by the end of its 20 s
        assert (await watcher.sync()).ok and watcher.case(case_id) is not None
        assert await watcher.changes_waiting(1) is False  # pulled: nothing waits any more

    asyncio.run(scenario())


def test_an_open_app_shows_another_phones_report_without_a_sync_being_asked_for(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    code = server.add_worker("zhang.wei", grids=(GRID_A,))
    app = AppSession(tmp_path / "phone", device_locales=["en"], clock=clock, transport=server.transport)
    asyncio.run(app.device.enroll(server.url, code))
    colleague = server.device(tmp_path / "b", "wu.lei", grids=(GRID_A,))

    async def scenario() -> None:
        app.background.start()
        loop = app.background.loop
        await until(lambda: loop.rounds == 1 and not loop.busy)
        await until(lambda: app.background.live_requests >= 1)
        case_id = colleague.report(
            category="0101", location=fix_in(GRID_A, clock()), photos=[(jpeg(3), "before")]
        )
        assert (await colleague.sync()).ok
        # no sync_now(), no resume(), and the periodic round is 120 s away
        await until(lambda: app.device.case(case_id) is not None)
        await until(lambda: loop.rounds == 2)  # one round, started by the watcher
        await app.background.stop()

    asyncio.run(scenario())
    app.close()
