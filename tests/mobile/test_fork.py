"""A phone whose change log forked from what the server holds still drains its outbox (issue 10 item
2): the server answers `segment.fork` with where to resume, the phone re-seals its ops from the fork
on under new numbers, and they are applied in the same sync."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mobile.core import outbox
from tests.mobile.conftest import GRID_A, PASSPHRASE, Clock, Server, fix_in, make_server_dir, run


def _restore_to_before_last_segment(phone: object) -> str:
    """What a phone restored from its own backup of a moment ago looks like: the last segment, its
    op and its case were never made; its sequence number and chain are back where they were then."""
    store = phone.store  # type: ignore[attr-defined]
    with store.transaction() as conn:
        last = conn.execute(
            "SELECT first_seq, prev_hash FROM segments ORDER BY first_seq DESC LIMIT 1"
        ).fetchone()
        case_id = conn.execute("SELECT case_id FROM outbox WHERE seq = ?", (last[0],)).fetchone()[0]
        conn.execute("DELETE FROM outbox WHERE seq >= ?", (last[0],))
        conn.execute("DELETE FROM segments WHERE first_seq >= ?", (last[0],))
        conn.execute("DELETE FROM local_cases WHERE case_id = ?", (case_id,))
        conn.execute("DELETE FROM server_cases WHERE case_id = ?", (case_id,))
        conn.execute("UPDATE identity SET next_seq = ?, chain_hash = ? WHERE id = 1", (last[0], last[1]))
    return str(case_id)


def test_a_phone_restored_from_an_old_copy_of_itself_re_seals_after_the_fork_and_its_outbox_drains(
    server: Server, tmp_path: Path
) -> None:
    phone = server.device(tmp_path / "p", "zhang.wei")
    first = phone.report(category="0101", location=fix_in(GRID_A))
    assert run(phone.sync()).ok
    lost = phone.report(category="0102", location=fix_in(GRID_A))
    assert run(phone.sync()).ok
    assert _restore_to_before_last_segment(phone) == lost
    again = phone.report(category="0103", location=fix_in(GRID_A))  # sealed under the number `lost` had
    report = run(phone.sync())
    assert report.ok, report.problems
    assert report.pending_ops == 0
    records = outbox.all_records(phone.store)
    assert [(r.op.case_id, r.state) for r in records] == [(first, "applied"), (again, "applied")]
    assert [r.seq for r in records] == [1, 3] and records[1].op.seq == 3
    assert server.case(again) is not None and server.case(lost) is not None
    assert [q.reason for q in server.services.store.quarantined()] == ["segment.fork"]
    assert run(phone.sync()).ok  # and the next round is a quiet one
    another = phone.report(category="0104", location=fix_in(GRID_A))
    assert run(phone.sync()).ok and server.case(another) is not None


@pytest.fixture
def queue_server(tmp_path: Path, clock: Clock) -> Iterator[Server]:
    """The real server, deployed to queue pushes to its spool for the night's ingest."""
    from sync_server.api.app import build_app
    from sync_server.config import load_config, save_config
    from sync_server.services import open_services

    data_dir = tmp_path / "server"
    make_server_dir(data_dir)
    save_config(dataclasses.replace(load_config(data_dir), apply_mode="queue"))
    services = open_services(load_config(data_dir), PASSPHRASE, clock)
    harness = Server(
        data_dir, clock, build_app(services), services, httpx.ASGITransport(app=build_app(services))
    )
    yield harness
    for device in harness.devices:
        device.close()
    services.close()


def test_a_queued_segment_whose_spool_file_was_lost_is_sent_again_and_applied_late(
    queue_server: Server, tmp_path: Path, clock: Clock
) -> None:
    from sync_server.ingest import run_ingest

    server = queue_server
    phone = server.device(tmp_path / "p", "zhang.wei")
    lost = phone.report(category="0101", location=fix_in(GRID_A))
    assert run(phone.sync()).ok
    spool = server.services.config.spool_dir
    for path in spool.glob("*.seg"):
        path.unlink()  # the night's copy of the spool lost it
    later = phone.report(category="0102", location=fix_in(GRID_A))
    assert run(phone.sync()).ok
    run_ingest(server.services, spool, progress=False, workers=0)
    clock.advance(server.services.config.backlog_force_after_s + 1)
    assert server.services.reconciler.sweep_backlog(clock()) == 1  # `later`, forced across the gap
    assert server.case(later) is not None and server.case(lost) is None
    for _ in range(3):  # nightly rounds: sync, then the night's ingest
        run(phone.sync())
        run_ingest(server.services, spool, progress=False, workers=0)
        clock.advance(3600)
    report = run(phone.sync())
    assert report.ok and report.pending_ops == 0, report
    assert server.case(lost) is not None
    assert [r.state for r in outbox.all_records(phone.store)] == ["applied", "applied"]
