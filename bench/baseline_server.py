"""The plain baseline for the client and storage figures: the same ops POSTed as plain JSON (no
signature, no encryption, no rules, no audit) to a minimal FastAPI endpoint that appends them to
SQLite (WAL, synchronous=NORMAL, one row per op keyed by op id) in one transaction per request.

What the issue's peer (PouchDB replicating to a CouchDB-like server) does is more than this and less
than gridsync: this is the floor of "ops over HTTP into SQLite", run on the same machine in the same
run. The database path comes from `BENCH_BASELINE_DB`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

_lock = threading.Lock()
_db = sqlite3.connect(os.environ.get("BENCH_BASELINE_DB", ":memory:"), check_same_thread=False)
_db.execute("PRAGMA journal_mode=WAL")
_db.execute("PRAGMA synchronous=NORMAL")
_db.execute(
    "CREATE TABLE IF NOT EXISTS ops (op_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, seq INTEGER NOT NULL, "
    "doc TEXT NOT NULL)"
)

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
    with _lock, _db:
        _db.executemany("INSERT OR IGNORE INTO ops VALUES (?, ?, ?, ?)", rows)
    return JSONResponse({"stored": len(rows)})
