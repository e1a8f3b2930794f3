"""Who is who: the city's people by id, so screens show 张伟, not `zhang.wei`.

Fetched from the server (`GET /v1/people`, signed) after enrollment and then now and then after a
good sync round; kept in the `people` table (phone migration 5), replaced whole in one transaction.
"""

from __future__ import annotations

from typing import Any

from mobile.core.server_api import ServerApi
from mobile.core.store import Store

#: fetch the directory again when it is older than this
REFRESH_EVERY_S = 6 * 3600


async def refresh(api: ServerApi, store: Store, now: int) -> int:
    """Fetch the directory and keep it; returns how many people it names."""
    answer: Any = (await api.request("GET", "/v1/people")).json()
    rows = [
        (str(p["worker_id"]), str(p["name"]), str(p.get("role", "")), now)
        for p in (answer.get("people") or [] if isinstance(answer, dict) else [])
        if isinstance(p, dict) and p.get("worker_id") and p.get("name")
    ]
    with store.transaction() as conn:
        conn.execute("DELETE FROM people")
        conn.executemany("INSERT INTO people (worker_id, name, role, fetched_at) VALUES (?, ?, ?, ?)", rows)
        conn.execute("DELETE FROM people_fetched")
        conn.execute("INSERT INTO people_fetched (id, at) VALUES (1, ?)", (now,))
    return len(rows)


def names(store: Store) -> dict[str, str]:
    return {str(r[0]): str(r[1]) for r in store.all("SELECT worker_id, name FROM people")}


def fetched_at(store: Store) -> int | None:
    row = store.one("SELECT at FROM people_fetched WHERE id = 1")
    return None if row is None else int(row[0])
