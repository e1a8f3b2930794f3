"""A catch-up: each visible case is stored once, as the server sent it, and its local view is read
from that copy until this phone acts on the case. Rows written the old way (a full local document)
still read as they are, and the next change of the case brings them to the new layout."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from mobile.core import casebook, photo_transfer
from mobile.core.device import Device
from mobile.core.store import dumps
from shared.model import case_to_dict
from sync_server.store.case_text import unpack
from tests.mobile.conftest import GRID_A, Server, fix_in, jpeg, run

WORDS = ("Alpha", "Bravo", "Charlie", "Delta", "Echo")


def _server_texts(server: Server) -> dict[str, str]:
    db = sqlite3.connect(server.data_dir / "gridsync.db")
    try:
        return {
            r[0]: unpack(r[1]) for r in db.execute("SELECT case_id, doc FROM cases")
        }  # as stored, unpacked
    finally:
        db.close()


def _reported(server: Server, tmp_path: Path, n: int) -> tuple[Device, list[str]]:
    worker = server.device(tmp_path / "worker", "zhang.wei")
    ids = [
        worker.report(
            category="0101",
            location=fix_in(GRID_A),
            description=f"井盖松动 Loose Cover {WORDS[i]}",
            photos=[(jpeg(i), "before")] if i == 0 else [],
        )
        for i in range(n)
    ]
    assert run(worker.sync()).ok
    return worker, ids


def _local_docs(device: Device) -> dict[str, str]:
    return {r[0]: r[1] for r in device.store.all("SELECT case_id, doc FROM local_cases")}


def _assert_views_match_the_server(server: Server, device: Device, ids: list[str]) -> None:
    for case_id in ids:
        view = device.case(case_id)
        assert view is not None
        assert case_to_dict(view.case) == case_to_dict(server.case(case_id))


def test_a_fresh_supervisor_stores_each_case_once_as_the_server_wrote_it(
    server: Server, tmp_path: Path
) -> None:
    _, ids = _reported(server, tmp_path, 5)
    sup = server.device(tmp_path / "sup", "chen.jing", role="supervisor")
    report = run(sup.sync())
    assert report.ok and report.cases_received == 5
    texts = _server_texts(server)
    held = {r[0]: r[1] for r in sup.store.all("SELECT case_id, doc FROM server_cases")}
    assert held == {case_id: texts[case_id] for case_id in ids}
    assert _local_docs(sup) == dict.fromkeys(ids, "")  # the view is the server copy, not a second one
    _assert_views_match_the_server(server, sup, ids)
    assert [v.case_id for v in sup.cases(text="井盖松动 loose delta")] == [ids[3]]
    assert photo_transfer.find_photo(sup.store, server.case(ids[0]).photos[0].sha256) is not None


def test_a_case_the_phone_acts_on_gets_its_own_local_document(server: Server, tmp_path: Path) -> None:
    worker, ids = _reported(server, tmp_path, 3)
    sup = server.device(tmp_path / "sup", "chen.jing", role="supervisor")
    assert run(sup.sync()).ok
    sup.add_note(ids[1], "checked on site")
    view = sup.case(ids[1])
    assert view is not None and view.pending and [n.text for n in view.case.notes] == ["checked on site"]
    assert _local_docs(sup)[ids[1]] != "" and _local_docs(sup)[ids[0]] == ""
    assert run(sup.sync()).ok
    worker.add_note(ids[1], "fixed")
    assert run(worker.sync()).ok
    assert run(sup.sync()).ok
    _assert_views_match_the_server(server, sup, ids)
    # its note settled and pulled back: nothing left to re-apply, so the view is the server copy again
    assert _local_docs(sup)[ids[1]] == ""
    sup.add_note(ids[1], "checked again")  # an unsettled op: the rules rebuild a document of its own
    view = sup.case(ids[1])
    assert view is not None and [n.text for n in view.case.notes][-1] == "checked again"
    assert _local_docs(sup)[ids[1]] != ""


def test_local_documents_written_before_the_change_still_read_and_are_replaced_by_the_next_pull(
    server: Server, tmp_path: Path
) -> None:
    worker, ids = _reported(server, tmp_path, 3)
    sup = server.device(tmp_path / "sup", "chen.jing", role="supervisor")
    assert run(sup.sync()).ok
    with sup.store.transaction() as conn:  # as the phone wrote them before: the server's case, re-encoded
        for case_id, text in _server_texts(server).items():
            conn.execute(
                "UPDATE local_cases SET doc = ? WHERE case_id = ?", (dumps(json.loads(text)), case_id)
            )
    assert all(_local_docs(sup).values())
    _assert_views_match_the_server(server, sup, ids)
    worker.add_note(ids[2], "second visit")
    assert run(worker.sync()).ok
    assert run(sup.sync()).ok
    _assert_views_match_the_server(server, sup, ids)
    assert _local_docs(sup)[ids[2]] == "" and _local_docs(sup)[ids[0]] != ""


def _copy(case_id: str, version: int, note: str = "") -> casebook.ServerCopy:
    doc: dict[str, Any] = {"case_id": case_id, "version": version, "category": "0101", "reporter": "li.na"}
    doc["description"] = note
    return casebook.server_copy(doc, json.dumps(doc))


def test_a_page_never_replaces_a_newer_copy_and_a_case_sent_twice_ends_as_its_later_copy(
    offline_device: Device,
) -> None:
    store = offline_device.store
    with store.transaction() as conn:
        casebook.put_server_cases(conn, [_copy("a", 2), _copy("d", 5)])
    with store.transaction() as conn:
        stored = casebook.put_server_cases(
            conn,
            [
                _copy("a", 1),
                _copy("b", 1),
                _copy("b", 3),
                _copy("c", 4),
                _copy("c", 2),
                _copy("d", 5, "again"),
            ],
        )
    assert {case_id: copy.version for case_id, copy in stored.items()} == {"b": 3, "c": 4, "d": 5}
    held = {r[0]: (r[1], json.loads(r[2])["description"]) for r in store.all("SELECT * FROM server_cases")}
    assert held == {"a": (2, ""), "b": (3, ""), "c": (4, ""), "d": (5, "again")}


def test_the_phone_store_checkpoints_its_wal_every_16_mib(offline_device: Device) -> None:
    row = offline_device.store.one("PRAGMA wal_autocheckpoint")
    assert row is not None and row[0] == 4096
