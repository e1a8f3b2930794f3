"""A phone killed at any moment (SIGKILL: no cleanup at all) loses nothing committed, leaves nothing
half-written, and after a restart sends everything exactly once."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mobile.core import casebook, outbox
from mobile.core.device import Device
from mobile.core.secrets import FileSecretStore
from shared.model import case_to_dict
from shared.rules import RuleContext
from tests.mobile.conftest import GRID_A, Clock, enroll_offline, fix_in, jpeg, run
from tests.mobile.test_loopback import LiveServer, live_server  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]

WRITER = """
import sys
from pathlib import Path
from mobile.core.device import Device
from mobile.core.secrets import FileSecretStore
from tests.mobile.conftest import GRID_A, fix_in, jpeg
folder = Path(sys.argv[1])
device = Device.open(folder, FileSecretStore(folder / "secrets"))
for i in range(100000):
    case_id = device.report(category="0101", location=fix_in(GRID_A), description=f"crash {i}",
                            photos=[(jpeg(i), "before")])
    device.add_note(case_id, "note")
    print(case_id, flush=True)
"""

SYNCER = """
import asyncio, sys
from pathlib import Path
from mobile.core.device import Device
from mobile.core.secrets import FileSecretStore
folder = Path(sys.argv[1])
device = Device.open(folder, FileSecretStore(folder / "secrets"))
print("syncing", flush=True)
while True:
    report = asyncio.run(device.sync())
    print(report.ops_sent, report.ok, flush=True)
"""


def _child(script: str, folder: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", script, str(folder)], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )


def _check_consistent(device: Device) -> None:
    store = device.store
    assert store.one("PRAGMA integrity_check")[0] == "ok"  # type: ignore[index]
    records = outbox.all_records(store)
    next_seq = store.state("next_seq")
    assert [r.seq for r in records] == list(range(1, next_seq))  # no gap, no half action
    creates = {r.op.case_id for r in records if r.op.kind == "create"}
    assert creates == {v.case_id for v in device.cases()}
    for record in records:
        if record.op.kind == "photo":
            sha = record.op.payload["sha256"]
            assert device.photo_bytes(sha) is not None and device.photo_bytes(sha, thumb=True) is not None
    # the stored local view is exactly the server view plus the outbox, re-applied
    before = casebook.local_docs(store)
    ctx: RuleContext = device._context()
    with store.transaction() as conn:
        casebook.rebase(conn, creates, device.identity.actor(), ctx)  # type: ignore[union-attr]
    after = casebook.local_docs(store)
    for case_id in creates:
        for key in ("timeline", "overdue", "reported_at"):  # stamped with the replay's clock
            before[case_id].pop(key)
            after[case_id].pop(key)
    assert before == after


@pytest.mark.slow
def test_a_phone_killed_mid_write_loses_nothing_committed_and_keeps_nothing_half(
    tmp_path: Path, clock: Clock
) -> None:
    folder = tmp_path / "phone"
    enroll_offline(folder, clock, secrets=FileSecretStore(folder / "secrets")).close()
    rng = random.Random(5)
    committed: list[str] = []
    for _ in range(3):
        child = _child(WRITER, folder)
        assert child.stdout is not None
        for _ in range(rng.randint(2, 6)):
            committed.append(child.stdout.readline().strip())
        time.sleep(rng.uniform(0.0, 0.05))
        child.send_signal(signal.SIGKILL)
        child.wait()
        committed += [line.strip() for line in child.stdout if line.strip()]
        child.stdout.close()
        device = Device.open(folder, FileSecretStore(folder / "secrets"), clock=clock)
        for case_id in committed:
            view = device.case(case_id)
            assert view is not None and len(view.case.notes) == 1
        _check_consistent(device)
        device.close()


@pytest.mark.slow
def test_a_phone_killed_during_sync_then_restarted_loses_and_duplicates_nothing(
    live_server: LiveServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    from sync_server.enrollment import add_worker, create_code

    store = live_server.services.store  # type: ignore[attr-defined]
    add_worker(store, "zhang.wei", name="张伟", role="worker", grids=[GRID_A])
    folder = tmp_path / "phone"
    phone = Device.open(folder, FileSecretStore(folder / "secrets"))
    run(phone.enroll(live_server.url, create_code(store, "zhang.wei", int(time.time()), 3600)))
    rng = random.Random(9)
    made: dict[str, int] = {}
    for batch in range(3):
        for i in range(250):
            photos = [(jpeg(batch * 1000 + i, (200, 150)), "before")] if i % 25 == 0 else []
            case_id = phone.report(
                category="0101",
                location=fix_in(GRID_A, int(time.time())),
                description=f"{batch}/{i}",
                photos=photos,
            )
            made[case_id] = 1 + i % 3
            for _ in range(i % 3):
                phone.add_note(case_id, "n")
        phone.close()
        child = _child(SYNCER, folder)
        assert child.stdout is not None
        child.stdout.readline()
        time.sleep(rng.uniform(0.05, 0.6))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        phone = Device.open(folder, FileSecretStore(folder / "secrets"))
        _check_consistent(phone)
        states = outbox.counts(phone.store)
        print("after kill:", states, "server cases:", sum(1 for _ in store.cases()))
    for _ in range(5):
        if phone.pending().empty:
            break
        report = run(phone.sync())
        assert report.ok, report.problems
    assert phone.pending().empty
    assert all(r.state == "applied" for r in outbox.all_records(phone.store))
    for case_id, notes in made.items():
        case = store.case(case_id)
        assert case is not None and len(case.notes) == notes - 1
        assert case_to_dict(phone.case(case_id).case) == case_to_dict(case)  # type: ignore[union-attr]
    assert json.loads(json.dumps(phone.last_sync().to_dict()))["ok"]  # type: ignore[union-attr]
    phone.close()
