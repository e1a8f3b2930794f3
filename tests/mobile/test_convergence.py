"""Convergence (cr-sqlite style): random multi-phone scripts of reports, edits, notes, workflow moves,
offline periods and syncs always end with every phone equal to the server."""

from __future__ import annotations

import contextlib
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobile.core.device import Device
from mobile.core.secrets import MemorySecretStore
from shared.errors import GridsyncError
from shared.model import case_from_dict, case_to_dict
from shared.rules import can_see
from tests.mobile.conftest import PASSPHRASE, Clock, fix_in, make_server_dir, run


@contextmanager
def shared_server() -> Iterator[tuple[object, httpx.AsyncBaseTransport, Clock]]:
    from sync_server.api.app import build_app
    from sync_server.config import load_config
    from sync_server.services import open_services

    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder) / "server"
        make_server_dir(data_dir)
        clock = Clock()
        services = open_services(load_config(data_dir), PASSPHRASE, clock)
        yield services, httpx.ASGITransport(app=build_app(services)), clock
        services.close()


FIELDS = ("description", "address")
OUTCOMES: Counter[str] = Counter()
report_step = st.tuples(st.just("report"), st.integers(0, 2), st.sampled_from(["0101", "5101", "0103"]))
step = st.one_of(
    report_step,
    report_step,
    st.tuples(
        st.just("edit"), st.integers(0, 2), st.integers(0, 5), st.sampled_from(FIELDS), st.integers(0, 3)
    ),
    st.tuples(st.just("note"), st.integers(0, 2), st.integers(0, 5)),
    st.tuples(
        st.just("move"),
        st.integers(0, 2),
        st.integers(0, 5),
        st.sampled_from(["file", "reject", "void", "start", "close"]),
    ),
    st.tuples(st.just("offline"), st.integers(0, 2)),
    st.tuples(st.just("sync"), st.integers(0, 2)),
    st.tuples(st.just("wait"), st.integers(1, 3)),
    # two phones edit one case they both hold: same field (hard conflict) or not (soft conflict)
    st.tuples(st.just("both_edit"), st.integers(0, 2), st.sampled_from(FIELDS), st.sampled_from(FIELDS)),
)


def _converge_script(
    services: object, transport: httpx.AsyncBaseTransport, clock: Clock, n: int, script: list[tuple]
) -> None:  # type: ignore[type-arg]
    from sync_server.enrollment import add_worker, create_code

    store = services.store  # type: ignore[attr-defined]
    codes = sorted(services.cities.get().catalogue.grids)  # type: ignore[attr-defined]
    grid = codes[n % len(codes)]
    people = [(f"w{n}a", "worker", None), (f"w{n}b", "worker", None), (f"s{n}", "supervisor", None)]
    phones: list[Device] = []
    with tempfile.TemporaryDirectory() as folder:
        for worker_id, role, department in people:
            add_worker(store, worker_id, name=worker_id, role=role, grids=[grid], department=department)
            phone = Device.open(
                Path(folder) / worker_id, MemorySecretStore(), clock=clock, transport=transport
            )
            run(phone.enroll("http://gridsync.test", create_code(store, worker_id, clock(), 3600)))
            phones.append(phone)
        offline = [False, False, False]
        for action in script:
            kind, who = action[0], action[1]
            phone = phones[who] if kind != "wait" else phones[0]
            if kind == "both_edit":
                other = phones[(who + 1) % 3]
                for holder in (phone, other):  # both pick up the latest, then go apart and edit
                    assert run(holder.sync()).ok
                both = sorted(v.case_id for v in phone.cases() if other.case(v.case_id) is not None)
                for editor, name in ((phone, action[2]), (other, action[3])):
                    if both:
                        with contextlib.suppress(GridsyncError):
                            editor.edit(both[0], **{name: f"{name} by {editor.identity.worker_id}"})  # type: ignore[union-attr]
                continue
            cases = sorted(v.case_id for v in phone.cases())
            target = cases[action[2] % len(cases)] if kind in ("edit", "note", "move") and cases else None
            try:
                if kind == "report":
                    phone.report(category=action[2], location=fix_in(grid), description="r")
                elif kind == "edit" and target:
                    phone.edit(target, **{action[3]: f"{action[3]} {action[4]}"})
                elif kind == "note" and target:
                    phone.add_note(target, "n")
                elif kind == "move" and target:
                    phone.transition(
                        target,
                        action[3],
                        reason="because",
                        department="municipal" if action[3] == "file" else None,
                    )
                elif kind == "offline":
                    offline[who] = not offline[who]
                elif kind == "sync" and not offline[who]:
                    report = run(phone.sync())
                    assert report.ok
                    OUTCOMES.update(report.outcomes)
                elif kind == "wait":
                    clock.advance(3600 * who)
            except GridsyncError:
                pass  # refused locally, exactly as the person would be told
        for _ in range(4):  # everyone back in coverage: sync until quiet
            for phone in phones:
                report = run(phone.sync())
                assert report.ok
                OUTCOMES.update(report.outcomes)
        for phone in phones:
            assert phone.pending().empty
            actor = phone.identity.actor()  # type: ignore[union-attr]
            local = {v.case_id: case_to_dict(v.case) for v in phone.cases()}
            for case in store.cases():
                if case.grid_code == grid and can_see(case, actor):
                    assert local.pop(case.case_id) == case_to_dict(case)
            for case_id, doc in local.items():  # only cases of other examples, or refused reports
                theirs = store.case(case_id)
                assert theirs is None or doc == case_to_dict(theirs)
                assert theirs is not None or case_from_dict(doc).grid_code == grid
            phone.close()


def test_random_multi_phone_scripts_end_with_every_phone_equal_to_the_server() -> None:
    counter = iter(range(10_000))
    with shared_server() as (services, transport, clock):

        @settings(
            max_examples=60,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(st.lists(step, min_size=8, max_size=40))
        def check(script: list[tuple]) -> None:  # type: ignore[type-arg]
            _converge_script(services, transport, clock, next(counter), script)

        check()
    # the scripts reached the interesting cases, not only the easy ones
    assert OUTCOMES["applied"] and OUTCOMES["hard_conflict"] and OUTCOMES["soft_conflict"], OUTCOMES
