"""Round trips against the real server app, in process: enroll, report, sync, and the whole loop."""

from __future__ import annotations

from pathlib import Path

import pytest

from mobile.core.device import Device
from mobile.core.errors import NetworkError
from mobile.core.secrets import MemorySecretStore
from shared.errors import GridsyncError
from shared.model import case_to_dict
from tests.mobile.conftest import GRID_A, Server, fix_in, jpeg, run


def assert_same_as_server(server: Server, device: Device, case_id: str) -> None:
    mine, theirs = device.case(case_id), server.case(case_id)
    assert mine is not None and theirs is not None
    assert not mine.pending
    assert case_to_dict(mine.case) == case_to_dict(theirs)


def test_enrollment_pins_the_server_keys_and_downloads_the_city(server: Server, tmp_path: Path) -> None:
    phone = server.device(tmp_path / "p", "zhang.wei")
    assert phone.enrolled and phone.identity is not None
    assert phone.identity.worker_id == "zhang.wei" and phone.identity.grids == (GRID_A,)
    assert len(phone.categories()) == 36 and len(phone.grids()) == 24
    assert phone.locate(*_centre()) is not None and phone.calendar() is not None


def _centre() -> tuple[float, float]:
    fix = fix_in(GRID_A)
    return fix.lat, fix.lon


def test_a_used_code_is_refused_with_bad_code(server: Server, tmp_path: Path) -> None:
    code = server.add_worker("li.na")
    first = Device.open(tmp_path / "a", MemorySecretStore(), clock=server.clock, transport=server.transport)
    run(first.enroll(server.url, code))
    second = Device.open(tmp_path / "b", MemorySecretStore(), clock=server.clock, transport=server.transport)
    with pytest.raises(GridsyncError) as caught:
        run(second.enroll(server.url, code))
    assert caught.value.code == "enroll.bad_code" and not second.enrolled
    first.close()
    second.close()


def test_a_wrong_fingerprint_is_a_key_mismatch_and_nothing_is_kept(server: Server, tmp_path: Path) -> None:
    code = server.add_worker("li.na")
    phone = Device.open(tmp_path / "a", MemorySecretStore(), clock=server.clock, transport=server.transport)
    with pytest.raises(GridsyncError) as caught:
        run(phone.enroll(server.url, code, fingerprint="0123456789abcdef"))
    assert caught.value.code == "server.key_mismatch" and not phone.enrolled
    phone.close()


def test_an_unreachable_server_is_a_network_error(tmp_path: Path) -> None:
    phone = Device.open(tmp_path / "a", MemorySecretStore())
    with pytest.raises(NetworkError):
        run(phone.enroll("http://127.0.0.1:9", "ABCD-EFGH-JKLM"))
    phone.close()


def test_a_report_with_photos_reaches_the_server_and_the_views_agree(server: Server, tmp_path: Path) -> None:
    phone = server.device(tmp_path / "p", "zhang.wei")
    case_id = phone.report(
        category="0101", location=fix_in(GRID_A), description="井盖破损", photos=[(jpeg(1), "before")]
    )
    report = run(phone.sync())
    assert report.ok, report.problems
    assert report.ops_sent == 2 and report.photos_uploaded == 1
    assert phone.pending().empty
    assert_same_as_server(server, phone, case_id)
    assert server.case(case_id).case_no  # numbered by the server
    again = run(phone.sync())
    assert again.ok and again.ops_sent == 0 and again.cases_received == 0


def test_the_whole_closed_loop_across_four_phones(server: Server, tmp_path: Path) -> None:
    worker = server.device(tmp_path / "w", "zhang.wei")
    sup = server.device(tmp_path / "s", "chen.jing", "supervisor", (), all_grids=True)
    handler = server.device(tmp_path / "h", "wang.qiang", "handler", (), department="municipal")
    checker = server.device(tmp_path / "c", "li.na")

    case_id = worker.report(category="0101", location=fix_in(GRID_A), photos=[(jpeg(1), "before")])
    assert run(worker.sync()).ok
    assert run(sup.sync()).ok
    sup.transition(case_id, "file")
    assert run(sup.sync()).ok
    assert server.case(case_id).status == "dispatched"
    assert run(handler.sync()).ok
    handler.transition(case_id, "start")
    handler.add_photo(case_id, jpeg(2), "after")
    handler.transition(case_id, "report_back")
    assert run(handler.sync()).ok
    assert run(checker.sync()).ok
    checker.add_photo(case_id, jpeg(3), "verification")
    checker.transition(case_id, "verify")
    assert run(checker.sync()).ok
    assert run(sup.sync()).ok
    assert [v.case_id for v in sup.approval_queue()] == [case_id]
    sup.transition(case_id, "close")
    assert run(sup.sync()).ok
    assert server.case(case_id).status == "closed"
    for phone in (worker, sup, handler, checker):
        assert run(phone.sync()).ok
        assert_same_as_server(server, phone, case_id)
    # photos of other phones are fetched and open with the key from the case
    after = next(p for p in sup.case(case_id).case.photos if p.stage == "after")  # type: ignore[union-attr]
    assert run(sup.fetch_photo(after.sha256)) is not None
