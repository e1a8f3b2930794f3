"""The plain baseline for the client, storage and open-loop figures: the same ops POSTed as plain
JSON (no signature, no encryption, no rules, no audit) to a minimal FastAPI endpoint that appends
them, one row per op keyed by op id, in one transaction per request — to SQLite (WAL,
synchronous=NORMAL), or to PostgreSQL (a plain table, `INSERT … ON CONFLICT DO NOTHING`) for the
PostgreSQL rows.

What the issue's peer (PouchDB replicating to a CouchDB-like server) does is more than this and less
than gridsync: this is the floor of "ops over HTTP into the database", run on the same machine in the
same run. `BENCH_BASELINE_DB` names the database: a SQLite path, or a `postgresql://` URL. Under
uvicorn's `--workers N` each process opens its own connection.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

_lock = threading.Lock()
_TARGET = os.environ.get("BENCH_BASELINE_DB", ":memory:")
_COLUMNS = "(op_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, seq INTEGER NOT NULL, doc TEXT NOT NULL)"

Row = tuple[str, str, int, str]


def _sqlite(path: str) -> Callable[[list[Row]], None]:
    db = sqlite3.connect(path, check_same_thread=False, timeout=60)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(f"CREATE TABLE IF NOT EXISTS ops {_COLUMNS}")

    def append(rows: list[Row]) -> None:
        with _lock, db:
            db.executemany("INSERT OR IGNORE INTO ops VALUES (?, ?, ?, ?)", rows)

    return append


def _postgres(url: str) -> Callable[[list[Row]], None]:
    import psycopg

    db = psycopg.connect(url, autocommit=True)
    with db.transaction():  # `--workers N`: one process creates the table, the others wait for it
        db.execute("SELECT pg_advisory_xact_lock(13)")
        db.execute(f"CREATE TABLE IF NOT EXISTS public.plain_ops {_COLUMNS}")

    def append(rows: list[Row]) -> None:
        with _lock, db.transaction(), db.cursor() as cur:
            cur.executemany(
                "INSERT INTO public.plain_ops VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING", rows
            )

    return append


_append = _postgres(_TARGET) if _TARGET.startswith(("postgresql://", "postgres://")) else _sqlite(_TARGET)

app = FastAPI()


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/ops")
async def ops(request: Request) -> JSONResponse:
    body = await request.body()
    rows = [
        (o["op_id"], o["device_id"], o["seq"], json.dumps(o, ensure_ascii=False)) for o in json.loads(body)
    ]
    _append(rows)
    return JSONResponse({"stored": len(rows)})
