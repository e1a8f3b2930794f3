"""`gridsync-server migrate-store --to postgresql://…`: the SQLite store copied into PostgreSQL,
verified, safe to re-run; phones carry on against the new store without noticing.

Real Devices (mobile core) against the real app over `httpx.ASGITransport`; the server is stopped,
the store copied with the CLI, and the server started again on PostgreSQL."""

from __future__ import annotations

import gc
import sqlite3
from pathlib import Path

import httpx
import psycopg
import pytest

from mobile.core.device import Device
from shared.model import case_to_dict
from sync_server.cli import main
from sync_server.store.case_text import unpack
from sync_server.store.postgres.copy import CopyRefused, copy_store
from tests.mobile.conftest import GRID_A, PASSPHRASE, Server, clock, fix_in, jpeg, run, server
from tests.mobile.test_restore import _phone_agrees, _server_state

pytestmark = pytest.mark.postgres


def _sync_ok(*phones: Device) -> None:
    for phone in phones:
        report = run(phone.sync())
        assert report.ok, report.problems


def _serve_on(server: Server, url: str | None) -> None:
    from sync_server.api.app import build_app
    from sync_server.config import load_config, save_config
    from sync_server.services import open_services

    server.services.close()
    gc.collect()
    if url is not None:
        config = load_config(server.data_dir)
        save_config(type(config)(**{**config.__dict__, "database_url": url}))
    server.services = open_services(load_config(server.data_dir), PASSPHRASE, server.clock)
    server.app = build_app(server.services)
    server.transport = httpx.ASGITransport(app=server.app)
    for device in server.devices:
        device.transport = server.transport


def _cursors(phones: list[Device]) -> list[tuple[int, str]]:
    """Each phone's changes cursor and the server incarnation it knows."""
    found = []
    for phone in phones:
        with phone.store.read() as conn:
            (life,) = conn.execute("SELECT incarnation FROM server_life WHERE id = 1").fetchone()
        found.append((int(phone.store.state("cursor") or 0), str(life)))
    return found


def test_phones_carry_on_after_the_store_moves_to_postgresql(
    server: Server, tmp_path: Path, pg_url: str
) -> None:
    a = server.device(tmp_path / "a", "zhang.wei")
    b = server.device(tmp_path / "b", "li.na")
    sup = server.device(tmp_path / "s", "chen.sup", role="supervisor")
    first = a.report(category="0101", location=fix_in(GRID_A), description="井盖松动")
    second = b.report(category="5101", location=fix_in(GRID_A), description="垃圾满溢")
    _sync_ok(a, b, sup, a, b)
    a.add_photo(first, jpeg(3), "before")
    sup.transition(second, "file", reason="属实", department="municipal")
    b.add_note(first, "确认")
    _sync_ok(a, b, sup, a, b, sup)
    a.edit(first, description="井盖缺失")  # made before the move, sent after it
    before = _server_state(server)
    incarnation = server.services.store.incarnation()
    change_seq = server.services.store.change_seq()
    cursors = _cursors([a, b, sup])
    assert all(c[0] for c in cursors)

    server.services.close()
    gc.collect()
    argv = ["--data-dir", str(server.data_dir), "migrate-store", "--to", pg_url]
    assert main(argv) == 0
    assert main(argv) == 0  # re-run: verified, nothing copied again
    _serve_on(server, pg_url)
    assert server.services.store.kind == "postgresql"
    assert server.services.store.incarnation() == incarnation
    assert server.services.store.change_seq() == change_seq
    assert _server_state(server) == before

    received = [run(p.sync()) for p in (a, b, sup)]
    assert all(r.ok for r in received), [r.problems for r in received]
    # no cursor reset: the same incarnation, cursors only moved on, and no phone was sent again
    # what it had (a's edit comes back to each; nothing else changed)
    after_move = _cursors([a, b, sup])
    assert [c[1] for c in after_move] == [incarnation] * 3 == [c[1] for c in cursors]
    assert all(new[0] >= old[0] for new, old in zip(after_move, cursors, strict=True))
    assert all(r.cases_received <= 1 for r in received), [r.cases_received for r in received]
    _sync_ok(a, b, sup)
    assert server.case(first).description == "井盖缺失"
    (photo,) = server.case(first).photos
    assert server.services.store.photo(photo.sha256).complete  # type: ignore[union-attr]
    third = b.report(category="0103", location=fix_in(GRID_A), description="路灯不亮")
    _sync_ok(b, a, sup, b)
    assert server.case(third).case_no
    for phone in (a, b, sup):
        _phone_agrees(server, phone)
    # nothing of before was lost: every case and op is still there, and the new ones besides
    after = _server_state(server)
    assert set(before["cases"]) < set(after["cases"])
    assert set(before["ops"]) <= set(after["ops"])
    assert case_to_dict(server.case(second)) == before["cases"][second]


def test_a_target_holding_another_store_is_refused_and_left_alone(
    server: Server, tmp_path: Path, pg_url: str
) -> None:
    a = server.device(tmp_path / "a", "zhang.wei")
    a.report(category="0101", location=fix_in(GRID_A), description="井盖松动")
    _sync_ok(a)
    server.services.close()
    gc.collect()
    db = server.data_dir / "gridsync.db"
    copy_store(db, pg_url)
    # the SQLite store moves on (a report applied after the copy): the copy is no longer this store
    src = sqlite3.connect(db, isolation_level=None)
    src.execute("UPDATE workers SET name = '改名' WHERE worker_id = 'zhang.wei'")
    src.close()
    with pytest.raises(CopyRefused, match=r"holds another store.*workers"):
        copy_store(db, pg_url)
    with psycopg.connect(pg_url) as pg:
        (name,) = pg.execute("SELECT name FROM gridsync.workers WHERE worker_id = 'zhang.wei'").fetchone()  # type: ignore[misc]
    assert name != "改名"


def test_the_copy_is_refused_while_the_sqlite_store_is_in_use(server: Server, pg_url: str) -> None:
    with pytest.raises(CopyRefused, match="open in another process"):
        copy_store(server.data_dir / "gridsync.db", pg_url)
    with psycopg.connect(pg_url) as pg:
        assert pg.execute("SELECT to_regclass('gridsync.cases')").fetchone() == (None,)


__all__ = ["clock", "server"]  # fixtures of tests/mobile


def test_a_row_postgresql_cannot_hold_refuses_the_whole_copy_plainly(
    server: Server, tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A store written before NUL was refused in text (SQLite holds it, PostgreSQL cannot): the copy is
    refused naming the table, exit 2, and the target holds nothing."""
    a = server.device(tmp_path / "a", "zhang.wei")
    case_id = a.report(category="0101", location=fix_in(GRID_A), description="井盖松动")
    _sync_ok(a)
    server.services.close()
    gc.collect()
    src = sqlite3.connect(server.data_dir / "gridsync.db", isolation_level=None)
    (stored,) = src.execute("SELECT doc FROM cases WHERE case_id = ?", (case_id,)).fetchone()
    # as such a store held it: its JSON text (stores since keep it packed, `case_text`)
    text = unpack(stored).replace("井盖松动", "井盖\x00松动")
    src.execute("UPDATE cases SET doc = ? WHERE case_id = ?", (text, case_id))
    src.close()
    assert main(["--data-dir", str(server.data_dir), "migrate-store", "--to", pg_url]) == 2
    err = capsys.readouterr().err
    assert "PostgreSQL refused a row of cases" in err and "nothing was copied" in err
    with psycopg.connect(pg_url) as pg:
        assert pg.execute("SELECT count(*) FROM gridsync.cases").fetchone() == (0,)
        assert pg.execute("SELECT count(*) FROM gridsync.workers").fetchone() == (0,)
