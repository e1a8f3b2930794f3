"""People, not codes: a case shows who reported and handled it by name (张伟), once the phone has
fetched who is who after a good sync round; until then, and for a person it does not know, the id."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mobile.app.state.case_detail import CaseState
from mobile.app.state.session import AppSession
from tests.app.test_background_sync import until
from tests.mobile.conftest import GRID_A, Clock, Server, fix_in, jpeg


def test_the_reporter_and_the_timeline_show_names_after_a_round(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    from sync_server.enrollment import add_worker, create_code

    add_worker(server.services.store, "zhang.wei", name="张伟", role="worker", grids=[GRID_A])
    code = create_code(server.services.store, "zhang.wei", clock(), 86400)
    reporter_phone = AppSession(
        tmp_path / "zw", device_locales=["zh-CN"], clock=clock, transport=server.transport
    )
    asyncio.run(reporter_phone.device.enroll(server.url, code))
    case_id = reporter_phone.device.report(
        category="0101", location=fix_in(GRID_A, clock()), photos=[(jpeg(1), "before")]
    )
    asyncio.run(reporter_phone.device.sync())
    reporter_phone.close()

    boss_code = server.add_worker("wang.fang", role="supervisor", all_grids=True)
    app = AppSession(tmp_path / "boss", device_locales=["zh-CN"], clock=clock, transport=server.transport)
    asyncio.run(app.device.enroll(server.url, boss_code))
    state = CaseState(app.device, app.tr, case_id)
    asyncio.run(app.device.sync())
    assert dict(state.facts())["上报人"] == "zhang.wei"  # not learnt yet: the id, not nothing

    async def scenario() -> None:
        app.background.start()
        await until(lambda: app.device.people_fetched_at() is not None)
        await app.background.stop()

    asyncio.run(scenario())
    assert dict(state.facts())["上报人"] == "张伟"
    assert any("张伟" in line.text for line in state.timeline())
    assert not any("zhang.wei" in line.text for line in state.timeline())
    app.close()
