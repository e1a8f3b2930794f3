"""Live updates across processes on PostgreSQL: a phone long-polling the changes feed of one `serve`
process is woken by LISTEN/NOTIFY when a segment is pushed through another, not by the counter poll.

Both processes run with `changes_poll_s` of 60 s, longer than the long-poll's own wait (20 s): a
counter poll cannot wake the phone inside its wait, so an answer 200 within it is the NOTIFY's. The
listener's connection is then ended with `pg_terminate_backend`; the process listens again by
itself and the next long-poll is woken the same way.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

import httpx
import psycopg
import pytest

from bench import fleet, lattice
from shared import crypto
from shared.auth import new_nonce, sign_request
from sync_server.change_bell import ChangeBell
from sync_server.config import load_config, save_config
from sync_server.keys import load_keys
from sync_server.store import open_store
from sync_server.store.postgres.notify import LISTENER_NAME, listen_for_changes
from tests.faults.processes import free_port, signed_post
from tests.postgres import cluster as clusters

pytestmark = pytest.mark.postgres

POLL_S = 60  # the fallback counter poll: far beyond the long-poll's wait
WAIT_S = 20


def _listeners(pg_url: str) -> list[int]:
    """The backends of this database listening for changes (one per serve process)."""
    with psycopg.connect(pg_url, autocommit=True) as db:
        rows = db.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
            (LISTENER_NAME,),
        ).fetchall()
    return sorted(int(r[0]) for r in rows)


async def _await_listeners(pg_url: str, count: int, other_than: list[int] = ()) -> list[int]:  # type: ignore[assignment]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        pids = [p for p in _listeners(pg_url) if p not in other_than]
        if len(pids) >= count:
            return pids
        await asyncio.sleep(0.1)
    return [p for p in _listeners(pg_url) if p not in other_than]


async def _woken_by_a_push(
    client: httpx.AsyncClient,
    cluster: clusters.Cluster,
    sup: fleet.Member,
    writer: fleet.Writer,
    before: list[int],
) -> tuple[int, float, list[int]]:
    """The supervisor long-polls machine 0 from the current horizon; once machine 0 listens, the worker
    pushes through machine 1. Returns the poll's status, the seconds from the push's answer to the
    poll's, and machine 0's listeners."""
    store = cluster.store()
    try:
        cursor = store.change_seq()
    finally:
        store.close()
    query = f"cursor={cursor}&limit=500&wait={WAIT_S}"
    headers = sign_request(
        sup.signing, sup.device_id, "GET", "/v1/changes", query, b"", int(time.time()), new_nonce()
    )
    poll = asyncio.create_task(client.get(f"{cluster.machines[0].url}/v1/changes?{query}", headers=headers))
    listening = await _await_listeners(cluster.pg_url, 1, before)
    await asyncio.sleep(1.0)  # machine 0 has read the counter once already: its next read is 60 s away
    assert not poll.done()
    async with httpx.AsyncClient(base_url=cluster.machines[1].url, timeout=30) as other:
        blob = writer.seal(writer.ops(1, creates_only=True))
        pushed = await signed_post(other, writer.member, blob)  # type: ignore[misc]
    assert pushed.status_code == 200, pushed.text
    answered_at = time.monotonic()
    response = await poll
    return response.status_code, time.monotonic() - answered_at, listening


def test_a_long_poll_on_one_process_is_woken_by_notify_from_a_push_through_another(
    tmp_path: Path, pg_url: str
) -> None:
    city = lattice.cells(4)
    sup = fleet.member(0, city, seed=21, role="supervisor")
    worker = fleet.member(1, city[:1], seed=21, grids=1)
    cluster = clusters.build(tmp_path, pg_url, [sup, worker], city, machines=2)
    store = cluster.store()
    try:
        fleet.enroll(store, [sup, worker], int(time.time()))
    finally:
        store.close()
    for machine in cluster.machines:
        save_config(replace(load_config(machine.data_dir), changes_poll_s=POLL_S))
    public = crypto.public_raw(load_keys(cluster.machines[0].data_dir, fleet.PASSPHRASE).encryption)
    writer = fleet.Writer(worker, public, seed=21)
    cluster.start()

    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=WAIT_S + 30) as client:
            status, after_push, listening = await _woken_by_a_push(client, cluster, sup, writer, [])
            assert status == 200, f"not woken within the {WAIT_S} s wait (poll every {POLL_S} s): {status}"
            assert after_push < WAIT_S / 2
            assert len(listening) == 1, listening  # one LISTEN connection, of machine 0 (1 waits on nothing)
            # the listener's connection is lost: the process listens again by itself
            with psycopg.connect(pg_url, autocommit=True) as db:
                db.execute("SELECT pg_terminate_backend(%s)", (listening[0],))
            status, after_push, again = await _woken_by_a_push(client, cluster, sup, writer, listening)
            assert status == 200, f"not woken after the listener was cut: {status}"
            assert after_push < WAIT_S / 2 and again and again[0] != listening[0]

    try:
        asyncio.run(scenario())
    finally:
        cluster.stop()


def test_a_bell_whose_listener_cannot_connect_falls_back_to_reading_the_counter(pg_url: str) -> None:
    """LISTEN down (here: a database address nobody answers): the bell reads the counter every
    `poll_s` instead, and a commit by another connection still wakes its waiter."""
    store = open_store(pg_url)
    nobody = f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    try:
        bell = ChangeBell(store.change_seq, poll_s=0.2, listen=partial(listen_for_changes, nobody))

        def commit_a_change() -> None:
            time.sleep(1.0)
            with store.transaction() as tx:
                tx.reserve_change_seqs(1)

        async def wait() -> tuple[bool, bool]:
            seen = store.change_seq()
            committer = asyncio.create_task(asyncio.to_thread(commit_a_change))
            woken = await bell.wait_past(seen, 10)
            await committer
            return woken, bell.listening

        assert asyncio.run(wait()) == (True, False)
    finally:
        store.close()
