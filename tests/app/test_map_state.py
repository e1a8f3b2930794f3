"""The map on a phone's screen: the view fits the worker's grids and the grid lattice stops at its
edge, markers at one spot fan out (an open case never hides a closed one, or the reverse), and a
grid's label sits where no marker covers it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mobile.app.i18n import Translator
from mobile.app.state.map import MARKER_PX, MapState, px_apart
from mobile.core.location import Fix
from tests.mobile.conftest import GRID_A, GRID_B, Clock, Server, grid_centre, jpeg


def test_cases_at_one_spot_fan_out_and_open_ones_are_drawn_on_top(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    worker = server.device(tmp_path / "w", "zhang.wei", grids=(GRID_A, GRID_B))
    lat, lon = grid_centre(GRID_A)
    spot = Fix(lat + 0.0003, lon + 0.0003, 5.0, clock(), "gps")
    closed = worker.report(
        category="0101", location=spot, photos=[(jpeg(1), "before"), (jpeg(2), "after")], on_spot=True
    )
    boss = server.device(tmp_path / "s", "wang.fang", role="supervisor", all_grids=True)
    asyncio.run(worker.sync())
    asyncio.run(boss.sync())
    boss.transition(closed, "close")
    asyncio.run(boss.sync())
    open_ids = [
        worker.report(category="0101", location=spot, photos=[(jpeg(3 + n), "before")]) for n in range(2)
    ]
    asyncio.run(worker.sync())
    assert worker.case(closed).case.status == "closed"  # type: ignore[union-attr]

    state = MapState(worker, Translator("en"))
    camera = state.camera()
    drawn = state.markers(camera)
    assert sorted(m.case_id for m in drawn) == sorted([closed, *open_ids])
    for n, a in enumerate(drawn):
        for b in drawn[n + 1 :]:
            assert px_apart((a.lat, a.lon), (b.lat, b.lon), camera.zoom) >= MARKER_PX - 1, (a, b)
    assert drawn[0].case_id == closed  # drawn first: under the open ones, and beside them


def test_the_view_fits_my_grids_and_draws_no_lattice_beyond_them(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    worker = server.device(tmp_path / "w", "zhang.wei", grids=(GRID_A, GRID_B))
    state = MapState(worker, Translator("zh-CN"))
    camera = state.camera()
    south, west, north, east = state.view_box(camera)
    mine = [o for o in state.outlines(camera) if o.mine]
    assert {o.code for o in mine} == {GRID_A, GRID_B}
    for o in mine:  # every corner of my grids is on screen
        assert all(south <= a <= north and west <= b <= east for a, b in o.points), o.code
    drawn = state.outlines(camera)
    assert len(drawn) < len(worker.grids())  # not the whole city's lattice
    for o in drawn:
        assert state.in_view(o.points, camera)
    assert 14 <= camera.zoom <= 18


def test_a_grid_label_moves_out_from_under_a_case_marker(
    tmp_path: Path, server: Server, clock: Clock
) -> None:
    worker = server.device(tmp_path / "w", "zhang.wei", grids=(GRID_A,))
    lat, lon = grid_centre(GRID_A)
    state = MapState(worker, Translator("en"))
    [alone] = [o for o in state.outlines() if o.code == GRID_A]
    assert px_apart(alone.label_at, (lat, lon), state.camera().zoom) < 5  # in the middle by default
    worker.report(category="0101", location=Fix(lat, lon, 5.0, clock(), "gps"), photos=[(jpeg(1), "before")])
    camera = state.camera()
    [labelled] = [o for o in state.outlines(camera) if o.code == GRID_A]
    for m in state.markers(camera):
        assert px_apart(labelled.label_at, (m.lat, m.lon), camera.zoom) >= MARKER_PX
