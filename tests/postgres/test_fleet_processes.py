"""Phones pushing through three `serve` processes over one PostgreSQL, one of them SIGKILLed in the
middle of a push and started again: nothing lost, nothing twice, every phone equal to the server,
and the phones' own segments, replayed into a fresh SQLite store, reproduce the store.

Five workers share two grids (they see, note and edit each other's reports, so conflicts arise) and
a supervisor files what they report; all six are real `Device`s behind a round-robin load balancer
(`tests.postgres.cluster.Spread`), so each phone's requests land on every machine in turn, and all
six sync at once each round. In round `KILL_ROUND` the test waits until a push is in flight to the
machine it picked (the phones write more and sync again until one is), SIGKILLs that machine, and
starts it again on the same port; the rounds after it go through the restarted machine too, and
the phones' last syncs must all end without a problem.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from pathlib import Path

import pytest

from bench import fleet
from mobile.core.device import Device
from shared.model import case_from_dict, case_to_dict
from shared.rules import can_see
from tests.faults.test_flaky_network import _act
from tests.postgres import cluster as clusters
from tests.postgres.checks import canonical_cases, problems

pytestmark = pytest.mark.postgres

WORKERS = 5
ROUNDS = 4
KILL_ROUND = 1
KILL_TRIES = 6
SETTLE_ROUNDS = 10
FIGURES: Counter[str] = Counter()  # docs/reliability.md


async def _kill_during_a_push(cluster: clusters.Cluster, machine: int, killed: asyncio.Event) -> int:
    """SIGKILL `machine` as soon as a segment POST is in flight to it (`killed` set then), then
    start it again; returns how many requests it had answered 200 when it was back."""
    key = (machine, "POST", "/v1/segments")
    while not cluster.in_flight[key]:
        await asyncio.sleep(0.001)
    cluster.machines[machine].kill()
    killed.set()
    FIGURES["killed with pushes in flight"] += cluster.in_flight[key]
    await asyncio.sleep(0.3)
    await asyncio.to_thread(cluster.machines[machine].start, 60)
    return cluster.counts[f"machine {machine} answered 200"]


async def _kill_round(cluster: clusters.Cluster, phones: list[Device], people: list[fleet.Member],
                      rng: random.Random, round_no: int, victim: int) -> int:  # fmt: skip
    """The round of the kill: the phones write more and sync, again (at most `KILL_TRIES` times)
    until a push to `victim` was caught in flight and the machine killed — the balancer's turns
    decide where each phone's push lands, so one sync of all may send none there. Returns how many
    requests the victim had answered 200 when it was back."""
    killed = asyncio.Event()
    killer = asyncio.create_task(_kill_during_a_push(cluster, victim, killed))
    for _ in range(KILL_TRIES):
        for phone, person in zip(phones, people, strict=True):
            _act(phone, rng, person, round_no)
        await asyncio.gather(*(phone.sync() for phone in phones))
        if killed.is_set():
            return await killer
    killer.cancel()
    raise AssertionError(f"no push reached machine {victim} in {KILL_TRIES} syncs of all the phones")


async def _run(
    cluster: clusters.Cluster, people: list[fleet.Member], rng: random.Random
) -> tuple[list[Device], int, int]:
    """The rounds and the settling; returns the phones, the machine that was killed, and how many
    requests it had answered 200 when it was back."""
    phones = [await cluster.phone(person) for person in people]
    victim = rng.randrange(len(cluster.machines))
    answered_at_restart = 0
    for round_no in range(ROUNDS):
        for phone, person in zip(phones, people, strict=True):
            _act(phone, rng, person, round_no)
        if round_no == KILL_ROUND:
            answered_at_restart = await _kill_round(cluster, phones, people, rng, round_no, victim)
        else:
            await asyncio.gather(*(phone.sync() for phone in phones))
    for _ in range(SETTLE_ROUNDS):
        await asyncio.gather(*(phone.sync() for phone in phones))
        if all(phone.pending().empty for phone in phones):
            break
    last = await asyncio.gather(*(phone.sync() for phone in phones))  # everyone pulls the last changes
    assert all(report.ok for report in last), [report.problems for report in last]
    return phones, victim, answered_at_restart


def _kind(outcome: str | None) -> tuple[str, str | None] | None:
    """An outbox row's outcome as the server records it: (outcome, code)."""
    if outcome is None:
        return None
    doc = json.loads(outcome)
    return doc["outcome"], doc.get("code")


def _as_json(doc: dict[str, object]) -> str:
    return json.dumps(doc, sort_keys=True, ensure_ascii=False)


def test_phones_through_three_processes_one_killed_mid_push_lose_nothing(tmp_path: Path, pg_url: str) -> None:
    city = fleet.lattice.cells(8)
    workers = [fleet.member(i, city[:2], seed=5, grids=2) for i in range(WORKERS)]
    people = [*workers, fleet.member(WORKERS, city, seed=5, role="supervisor")]
    cluster = clusters.build(tmp_path, pg_url, people, city)
    cluster.start()
    try:
        phones, victim, answered_at_restart = asyncio.run(_run(cluster, people, random.Random(5)))
        assert cluster.machines[victim].kills == 1, "the kill did not happen"
        assert sum(m.kills for m in cluster.machines) == 1
        assert all(m.proc is not None and m.proc.poll() is None for m in cluster.machines)
        # the restarted machine served the rounds after the kill
        assert cluster.counts[f"machine {victim} answered 200"] > answered_at_restart

        store = cluster.store()
        try:
            assert store.kind == "postgresql"
            sent = {}
            for phone in phones:
                assert phone.pending().empty, f"{phone.identity.worker_id} still has {phone.pending()}"  # type: ignore[union-attr]
                (last,) = phone.store.one("SELECT COALESCE(MAX(seq), 0) FROM outbox")
                assert last, f"{phone.identity.worker_id} sent nothing"  # type: ignore[union-attr]
                sent[phone.identity.device_id] = int(last)  # type: ignore[union-attr]
            # every (device, seq) in the op log exactly once, nothing held or quarantined
            assert problems(store, sent) == []
            server_outcomes = clusters.outcomes(store, phones)
            server_cases = {c.case_id: c for c in store.cases()}
            for phone, person in zip(phones, people, strict=True):
                # the phone was told every op's outcome, the server's
                told = {
                    (phone.identity.device_id, int(r[0])): _kind(r[1])  # type: ignore[union-attr]
                    for r in phone.store.all("SELECT seq, outcome FROM outbox")
                }
                assert told == {k: v for k, v in server_outcomes.items() if k in told}
                # no change missing from its feed: the copy it built from the feed's pages is the
                # server's, case for case, for every case it may see; and its own view equals it
                actor = person.worker_record().actor()
                visible = {i: _as_json(case_to_dict(c)) for i, c in server_cases.items() if can_see(c, actor)}
                mirrored = {
                    r[0]: _as_json(case_to_dict(case_from_dict(json.loads(r[1]))))
                    for r in phone.store.all("SELECT case_id, doc FROM server_cases")
                }
                assert mirrored == visible, f"{person.worker_id}'s copy differs from the server's"
                local = {v.case.case_id: _as_json(case_to_dict(v.case)) for v in phone.cases()}
                assert local == visible, f"{person.worker_id}'s view differs from the server's"
            # the phones' segments, replayed in the cluster's commit order into a fresh SQLite store
            reference = clusters.replay(cluster, phones)
            try:
                assert canonical_cases(reference) == canonical_cases(store)
                assert clusters.outcomes(reference, phones) == server_outcomes
            finally:
                reference.close()
            FIGURES.update(o for o, _ in server_outcomes.values())
            FIGURES["ops"] += len(server_outcomes)
            FIGURES["cases"] += len(server_cases)
        finally:
            store.close()
    finally:
        cluster.stop()
    FIGURES.update({k: v for k, v in cluster.counts.items()})
    print(f"\nfleet over three processes: {dict(sorted(FIGURES.items()))}")
    assert FIGURES["hard_conflict"] + FIGURES["soft_conflict"] > 0, "no conflict arose: edit more"
    for i in range(len(cluster.machines)):  # every machine served pushes and pulls
        assert cluster.counts[f"machine {i} answered 200"] > 0, dict(cluster.counts)
    assert sum(v for k, v in cluster.counts.items() if k.endswith("failed")) > 0
