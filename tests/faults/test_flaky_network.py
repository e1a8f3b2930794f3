"""A flaky network between real phones and the server: every seeded run converges.

Each run enrolls three workers sharing two grids and a supervisor over the city (real
`mobile.core.device.Device` objects, in-process server), then plays rounds of work — reports, a small
photo, notes, edits of each other's cases (so conflicts arise), filing by the supervisor — with every
phone syncing concurrently through its own `FaultyTransport`. Then the faults stop and the phones
sync until nothing is pending. Afterwards:

- the server holds every op each phone wrote, once (nothing lost, nothing applied twice, no segment
  left in the backlog or quarantine);
- each phone's copy of the server's cases equals the server's, case by case, for every case the
  phone may see; and its optimistic local view equals it too (nothing unsettled remains).
"""

from __future__ import annotations

import asyncio
import io
import json
import random
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from bench import fleet, harness, inventory
from mobile.core.device import Device
from mobile.core.location import Fix
from shared.model import case_from_dict, case_to_dict
from shared.rules import can_see
from tests.faults.transport import FaultyTransport

SEEDS = range(20)
ROUNDS = 4
SETTLE_ROUNDS = 8
TOTALS: Counter[str] = Counter()  # faults injected over all runs (docs/reliability.md)


def _small_jpeg(seed: int) -> bytes:
    out = io.BytesIO()
    Image.effect_noise((96, 72), 30 + seed % 20).convert("RGB").save(out, "JPEG", quality=80)
    return out.getvalue()


def _act(device: Device, rng: random.Random, member: fleet.Member, round_no: int) -> None:
    """One person's bit of work for a round (all local, offline-capable)."""
    cases = [v.case for v in device.cases()]
    if member.role == "supervisor":
        for case in cases:
            if case.status == "reported" and rng.random() < 0.5:
                device.transition(case.case_id, "file")
        return
    lat, lon = member.cells[rng.randrange(len(member.cells))].point(rng.random(), rng.random())
    photos = [(_small_jpeg(round_no), "before")] if round_no == 0 else []
    device.report(category=rng.choice(("0101", "0102", "5101")), location=Fix(lat, lon, 5.0, fleet.NOW),
                  description=f"round {round_no}", photos=photos)  # fmt: skip
    for case in rng.sample(cases, min(2, len(cases))):
        if case.status in ("closed", "rejected", "voided", "duplicate"):
            continue
        if rng.random() < 0.5:
            device.add_note(case.case_id, f"note from {member.worker_id} in round {round_no}")
        else:
            device.edit(case.case_id, description=f"{member.worker_id} says: round {round_no}")


async def _run(seed: int, root: Path) -> None:
    rng = random.Random(seed)
    city = fleet.lattice.cells(8)
    # Three workers over the same two grids (they see, and edit, each other's reports).
    members = [fleet.member(i, city[:2], seed=seed, grids=2) for i in range(3)]
    supervisor = fleet.member(3, city, seed=seed, role="supervisor")
    people = [*members, supervisor]
    fleet.build_server(root / "server", city, [])
    server = harness.Server(root / "server")
    harness.add_workers(server.services, people)
    inner = server.transport()
    transports = [FaultyTransport(inner, seed * 100 + i) for i in range(len(people))]
    phones: list[Device] = []
    for i, person in enumerate(people):  # enrollment happens on a good network
        transports[i].enabled = False
        phones.append(await server.phone(root / f"phone{i}", person.worker_id, transport=transports[i]))
        transports[i].enabled = True
    try:
        for round_no in range(ROUNDS):
            for phone, person in zip(phones, people, strict=True):
                _act(phone, rng, person, round_no)
            await asyncio.gather(*(phone.sync() for phone in phones))
            server.clock.now += 60
        for t in transports:
            t.enabled = False
            TOTALS.update(t.injected)
            TOTALS["requests"] += t.requests
        for _ in range(SETTLE_ROUNDS):
            await asyncio.gather(*(phone.sync() for phone in phones))
            server.clock.now += 60
            if all(phone.pending().empty for phone in phones):
                break
        await asyncio.gather(*(phone.sync() for phone in phones))  # everyone pulls the last changes
        _assert_converged(server, phones, people, seed)
    finally:
        for phone in phones:
            phone.close()
        server.close()


def _assert_converged(
    server: harness.Server, phones: list[Device], people: list[fleet.Member], seed: int
) -> None:
    store = server.services.store
    sent = {}
    for phone in phones:
        assert phone.pending().empty, f"seed {seed}: {phone.identity.worker_id} still has {phone.pending()}"
        row = phone.store.one("SELECT COALESCE(MAX(seq), 0) FROM outbox")
        sent[phone.identity.device_id] = int(row[0])
    problems = inventory.problems(server.data_dir, {d: n for d, n in sent.items() if n})
    assert not problems, f"seed {seed}: {problems}"
    server_cases = {c.case_id: c for c in store.cases()}
    TOTALS["cases"] += len(server_cases)
    TOTALS.update(f"outcome {row.outcome}" for row in store.audit_rows())
    for phone, person in zip(phones, people, strict=True):
        actor = person.worker_record().actor()
        visible = {cid: json.dumps(case_to_dict(c), sort_keys=True) for cid, c in server_cases.items()
                   if can_see(c, actor)}  # fmt: skip
        mirrored = {r["case_id"]: json.dumps(case_to_dict(case_from_dict(json.loads(r["doc"]))), sort_keys=True)
                    for r in phone.store.all("SELECT case_id, doc FROM server_cases")}  # fmt: skip
        assert mirrored == visible, f"seed {seed}: {person.worker_id}'s copy differs from the server's"
        local = {v.case.case_id: json.dumps(case_to_dict(v.case), sort_keys=True) for v in phone.cases()}
        assert local == visible, f"seed {seed}: {person.worker_id}'s local view differs from the server's"


@pytest.mark.parametrize("seed", SEEDS)
def test_phones_converge_with_the_server_after_a_flaky_network(seed: int, tmp_path: Path) -> None:
    asyncio.run(_run(seed, tmp_path))


def test_the_flaky_network_really_injected_every_fault() -> None:
    """Runs after the seeds: each kind of fault happened (the figures go to docs/reliability.md)."""
    from tests.faults.transport import FAULTS

    print(f"\nflaky network: {dict(TOTALS)}")
    assert all(TOTALS[f] > 0 for f in FAULTS), dict(TOTALS)
    assert TOTALS["outcome hard_conflict"] > 0 and TOTALS["outcome applied"] > 0, dict(TOTALS)
