"""Committed changes announced to every server process: PostgreSQL `LISTEN`/`NOTIFY`.

Every transaction that reserves change numbers (`PgTransaction.reserve_change_seqs`) also calls
`pg_notify(CHANNEL, <its last change number>)`. PostgreSQL delivers a notification only when its
transaction commits (never for one rolled back, nor for a savepoint rolled back inside a group), to
every connection listening on the channel, in commit order. Change numbers are reserved under the
counter row's lock held to commit, so when a notification arrives, the feed's horizon
(`Store.change_seq`) has reached its number.

`listen_for_changes` is what one `serve` process runs (`change_bell.ChangeBell`): one connection of
its own, outside the pool, named `LISTENER_NAME` (visible in `pg_stat_activity`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import psycopg

from sync_server.store.postgres.schema.migrations import SCHEMA

CHANNEL = "gridsync_changes"
LISTENER_NAME = "gridsync-listen"
#: how long the listener waits for a notification before it checks that its connection is alive
HEARTBEAT_S = 5.0


async def listen_for_changes(url: str) -> AsyncGenerator[int | None, None]:
    """Yields the committed change counter as it moves, across every process over the database.

    First the counter as committed once `LISTEN` is in place (nothing committed before the
    listener started is missed), then the number each notification carries; `None` after each
    `HEARTBEAT_S` of silence, once a `SELECT 1` has shown the connection alive (so a consumer can
    stop, and a connection lost without a word is found within a heartbeat). Raises
    `psycopg.Error` when the connection is lost: the consumer falls back to reading the counter and
    calls again later."""
    db = await psycopg.AsyncConnection.connect(
        url, autocommit=True, application_name=LISTENER_NAME, connect_timeout=10, prepare_threshold=None
    )  # no prepared statements, as every store connection (docs/server.md, "Query plans")
    async with db:
        await db.execute(f"LISTEN {CHANNEL}")  # type: ignore[call-overload]
        yield await _counter(db)
        while True:
            async for notice in db.notifies(timeout=HEARTBEAT_S):
                if notice.payload.isdigit():  # anyone may NOTIFY the channel: only numbers count
                    yield int(notice.payload)
            await db.execute("SELECT 1")
            yield None


async def _counter(db: psycopg.AsyncConnection[Any]) -> int:
    cur = await db.execute(f"SELECT value FROM {SCHEMA}.counters WHERE name = 'change_seq'")  # type: ignore[call-overload]
    row = await cur.fetchone()
    return 0 if row is None else int(row[0])
