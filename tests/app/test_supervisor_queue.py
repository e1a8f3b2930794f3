"""The supervisor's queue: everything waiting for her, grouped, oldest first, each card saying why;
new reports are filed from the queue itself."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mobile.app.i18n import Translator
from mobile.app.state.supervisor import SupervisorState
from tests.mobile.conftest import GRID_A, Clock, Server, fix_in, jpeg


def test_new_reports_wait_to_be_filed_in_the_queue_grouped_and_oldest_first(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    worker = server.device(tmp_path / "w", "zhang.wei", grids=(GRID_A,))
    older = worker.report(category="0101", location=fix_in(GRID_A, clock()), photos=[(jpeg(1), "before")])
    clock.advance(600)
    on_spot = worker.report(
        category="0101",
        location=fix_in(GRID_A, clock()),
        photos=[(jpeg(2), "before"), (jpeg(3), "after")],
        on_spot=True,
    )
    clock.advance(600)
    newer = worker.report(category="0101", location=fix_in(GRID_A, clock()), photos=[(jpeg(4), "before")])
    asyncio.run(worker.sync())
    boss = server.device(tmp_path / "s", "wang.fang", role="supervisor", all_grids=True)
    asyncio.run(boss.sync())
    clock.advance(3 * 3600)

    state = SupervisorState(boss, Translator("en"), clock=clock)
    assert [r.case_id for r in state.queue()] == [older, newer, on_spot]
    groups = state.groups()
    assert [(g.key, [r.case_id for r in g.rows]) for g in groups] == [
        ("file", [older, newer]),
        ("close", [on_spot]),
    ]
    file_row = groups[0].rows[0]
    assert (file_row.why, file_row.quick_action) == ("To file", "file")
    assert file_row.waiting == "reported 3 h ago"
    close_row = groups[1].rows[0]
    # an on-the-spot report waits for closure: never "Reported" (待立案) next to "Closure to approve"
    assert (close_row.why, close_row.status_label, close_row.quick_action) == (
        "Closure to approve",
        "Fixed on the spot",
        None,
    )
    zh = SupervisorState(boss, Translator("zh-CN"), clock=clock).queue()
    assert "待立案" not in {r.status_label for r in zh if r.why == "待结案"}


def test_a_worker_has_no_queue(tmp_path: Path, server: Server, clock: Clock) -> None:
    worker = server.device(tmp_path / "w", "zhang.wei", grids=(GRID_A,))
    worker.report(category="0101", location=fix_in(GRID_A, clock()), photos=[(jpeg(1), "before")])
    assert SupervisorState(worker, Translator("en"), clock=clock).queue() == []
