"""Upkeep nobody asks for: held segments past their wait are applied, overdue cases are flagged —
every `sweep_interval_s` while the app runs, or once with `gridsync-server admin sweep`."""

from __future__ import annotations

import time
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal

from sync_server.api.app import build_app
from sync_server.cli import main
from tests.server.conftest import PASSPHRASE
from tests.server.device import hex32


def _a_held_segment_and_a_filed_case(worker: Any, supervisor: Any) -> str:
    worker.push(worker.seal([worker.create()]))
    worker.seal([worker.create()])  # never arrives
    assert worker.push(worker.seal([worker.create()])).json()["status"] == "held"
    case_id = hex32()
    worker.push_ops([worker.create(case_id)])  # held too: it follows the held segment
    supervisor.push_ops([supervisor.create(case_id)])
    supervisor.push_ops([supervisor.move(case_id, "file")])  # 0101: due in 2 working hours
    return case_id


@pytest.mark.parametrize("config_overrides", [{"backlog_force_after_s": 3600, "sweep_interval_s": 1}])
def test_the_running_app_applies_expired_backlog_and_flags_overdue_cases_in_the_background(
    worker: Any, supervisor: Any, services: Any, clock: Any
) -> None:
    case_id = _a_held_segment_and_a_filed_case(worker, supervisor)
    clock.now += 86_400  # Tuesday 10:00: the wait is over and the case is a working day late
    app = build_app(services)
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(app.router.lifespan_context(app)),
    ):
        for _ in range(100):
            if services.store.backlog_size() == 0 and services.store.case(case_id).overdue:
                break
            time.sleep(0.05)
    assert services.store.backlog_size() == 0
    assert services.store.device(worker.device_id).last_seq == 4
    assert services.store.case(case_id).overdue
    assert [row.flags for row in services.store.audit_rows() if row.device_id == worker.device_id] == [
        "", "forced", ""
    ]  # fmt: skip


@pytest.mark.parametrize("config_overrides", [{"sweep_interval_s": 0}])
def test_a_zero_interval_turns_the_background_sweep_off(services: Any) -> None:
    app = build_app(services)
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(app.router.lifespan_context(app)),
    ):
        assert services.store.backlog_size() == 0  # starts and stops cleanly with nothing to run


def test_admin_sweep_does_the_same_once_for_cron(
    worker: Any, supervisor: Any, services: Any, data_dir: Any, monkeypatch: Any, capsys: Any
) -> None:
    case_id = _a_held_segment_and_a_filed_case(worker, supervisor)
    monkeypatch.setenv("GRIDSYNC_PASSPHRASE", PASSPHRASE)
    assert main(["--data-dir", str(data_dir), "admin", "sweep"]) == 0  # the real clock: months later
    assert "2 held segments applied, 1 cases flagged overdue" in capsys.readouterr().out
    assert services.store.backlog_size() == 0 and services.store.case(case_id).overdue
    assert main(["--data-dir", str(data_dir), "admin", "sweep"]) == 0
    assert "0 held segments applied, 0 cases flagged overdue" in capsys.readouterr().out


def test_admin_sweep_refuses_a_wrong_passphrase(data_dir: Any, monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.setenv("GRIDSYNC_PASSPHRASE", "wrong")
    assert main(["--data-dir", str(data_dir), "admin", "sweep"]) == 2
    assert "passphrase" in capsys.readouterr().err
