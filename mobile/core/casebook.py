"""The two views of every case on the phone, and the rebase that ties them.

`server_cases` holds each case exactly as the server last sent it. `local_cases` is what the person
sees: the server's case with this phone's still-unsettled ops re-applied by the same pure rules the
server runs (`shared.rules.apply_op`). After every pull the local view is rebuilt from those two
facts (rebase), so the phone never drifts from the server by accumulating its own guesses.

A case this phone never acted on has the server's case as its local view: its `local_cases` row
keeps the columns the screens filter on and an empty `doc`, and reads take the document from
`server_cases` — a catch-up writes each case's JSON once, not twice. (`doc` stays NOT NULL, so no
migration: rows written before hold a full document, read as they are.)
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any, NamedTuple

from mobile.core import outbox
from mobile.core.store import Store, dumps
from shared.model import Actor, Case, case_from_dict, case_to_dict
from shared.rules import RuleContext, apply_op


def server_case(conn: sqlite3.Connection, case_id: str) -> Case | None:
    row = conn.execute("SELECT doc FROM server_cases WHERE case_id = ?", (case_id,)).fetchone()
    return None if row is None else case_from_dict(json.loads(row[0]))


def server_version(conn: sqlite3.Connection, case_id: str) -> int:
    row = conn.execute("SELECT version FROM server_cases WHERE case_id = ?", (case_id,)).fetchone()
    return 0 if row is None else int(row[0])


# The local view's document: its own, or (when empty) the server's copy.
_LOCAL_DOC = "COALESCE(NULLIF(l.doc, ''), s.doc)"
_LOCAL = "local_cases AS l LEFT JOIN server_cases AS s ON s.case_id = l.case_id"


def local_case(conn: sqlite3.Connection, case_id: str) -> Case | None:
    row = conn.execute(f"SELECT {_LOCAL_DOC} FROM {_LOCAL} WHERE l.case_id = ?", (case_id,)).fetchone()
    return None if row is None else case_from_dict(json.loads(row[0]))


class ServerCopy(NamedTuple):
    """A case as the server sent it, cut down to what the phone stores: its JSON text as received
    (stored as is, never encoded again) and the local row it gets when this phone has no op on it
    (the view's columns; its document is the server copy's)."""

    case_id: str
    version: int
    text: str
    local_row: tuple[Any, ...]


def server_copy(doc: dict[str, Any], text: str) -> ServerCopy:
    """`changes_page.read_page`'s `keep`: the parsed document is dropped once this returns."""
    search = _search_text(
        doc.get("case_no", ""), doc["category"], doc.get("description", ""), doc.get("address", ""),
        doc.get("grid_code", ""),
    )  # fmt: skip
    case_id, version = doc["case_id"], int(doc["version"])
    row = (case_id, version, str(doc.get("status", "reported")), doc["reporter"], doc.get("handler"),
           doc.get("department"), doc.get("grid_code", ""), doc["category"], int(doc.get("reported_at", 0)),
           search, "")  # fmt: skip
    return ServerCopy(case_id, version, text, row)


def put_server_cases(conn: sqlite3.Connection, copies: Sequence[ServerCopy]) -> dict[str, ServerCopy]:
    """Keep each of the server's cases unless we already hold a newer version. In order, so a case
    sent twice ends as its later copy; one read and one write for a whole page. Returns the copies
    stored, by case id. A copy marked stale (the server was restored, `incarnation.learn`) is
    replaced whatever its version."""
    ids = json.dumps([c.case_id for c in copies])
    held = {
        row[0]: int(row[1])
        for row in conn.execute(
            "SELECT case_id, version FROM server_cases WHERE case_id IN (SELECT value FROM json_each(?))",
            (ids,),
        )
    }
    if conn.execute("SELECT 1 FROM stale_cases LIMIT 1").fetchone() is not None:
        stale = "FROM stale_cases WHERE case_id IN (SELECT value FROM json_each(?))"
        for row in conn.execute(f"SELECT case_id {stale}", (ids,)).fetchall():
            held.pop(row[0], None)
        conn.execute(f"DELETE {stale}", (ids,))
    stored: dict[str, ServerCopy] = {}
    rows = []
    for copy in copies:
        if held.get(copy.case_id, copy.version) > copy.version:
            continue
        held[copy.case_id] = copy.version
        stored[copy.case_id] = copy
        rows.append((copy.case_id, copy.version, copy.text))
    rows.sort(key=itemgetter(0))  # in key order the index pages are filled in turn (stable: a case twice)
    conn.executemany(
        "INSERT INTO server_cases VALUES (?, ?, ?) ON CONFLICT (case_id) DO UPDATE "
        "SET version = excluded.version, doc = excluded.doc",
        rows,
    )
    return stored


def _search_text(case_no: str, category: str, description: str, address: str, grid_code: str) -> str:
    return " ".join((case_no, category, description, address, grid_code)).lower()


def put_local_case(conn: sqlite3.Connection, case: Case) -> None:
    search = _search_text(case.case_no, case.category, case.description, case.address, case.grid_code)
    _put_local_row(conn, case.case_id, case.version, str(case.status), case.reporter, case.handler,
                   case.department, case.grid_code, case.category, case.reported_at, search,
                   dumps(case_to_dict(case)))  # fmt: skip


_PUT_LOCAL = (
    "INSERT INTO local_cases VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (case_id) DO UPDATE SET "
    "version = excluded.version, status = excluded.status, reporter = excluded.reporter, "
    "handler = excluded.handler, department = excluded.department, grid_code = excluded.grid_code, "
    "category = excluded.category, reported_at = excluded.reported_at, search = excluded.search, "
    "doc = excluded.doc"
)


def _put_local_row(conn: sqlite3.Connection, *row: Any) -> None:
    conn.execute(_PUT_LOCAL, row)


def rebase(
    conn: sqlite3.Connection,
    case_ids: Iterable[str],
    actor: Actor,
    ctx: RuleContext,
    fresh: dict[str, ServerCopy] | None = None,
) -> None:
    """Local view := server case + unsettled own ops, re-applied in sequence order.

    An op the rules now refuse simply has no effect on the view; it stays in the outbox until the
    server's outcome says what became of it (the server is the authority, the phone only predicts).
    `fresh` holds the server's copies just stored: a case this phone never acted on takes its view
    straight from its copy — the common case of a catch-up, with nothing to re-apply.
    """
    acted = outbox.cases_acted_on(conn, list(fresh)) if fresh else set()
    as_sent = []
    for case_id in sorted(set(case_ids)):
        if fresh is not None and case_id in fresh and case_id not in acted:
            as_sent.append(fresh[case_id].local_row)
            continue
        base = server_case(conn, case_id)
        case = base
        # With no server case, the phone's own ops are the only view there is — a report the server
        # refused stays visible (with its reason) instead of vanishing.
        ops = (
            outbox.own_ops(conn, case_id)
            if base is None
            else outbox.unsettled_for_case(conn, case_id, base.version)
        )
        for op in ops:
            _, new = apply_op(case, op, actor, ctx)
            if new is not None:
                case = new
        if case is None:
            conn.execute("DELETE FROM local_cases WHERE case_id = ?", (case_id,))
        else:
            put_local_case(conn, case)
    conn.executemany(_PUT_LOCAL, as_sent)


def local_cases(
    store: Store,
    *,
    worker_id: str | None = None,
    status: str | None = None,
    text: str = "",
    case_ids: Iterable[str] | None = None,
) -> list[Case]:
    where, params = [], []
    if worker_id is not None:
        where.append("(l.reporter = ? OR l.handler = ?)")
        params += [worker_id, worker_id]
    if status:
        where.append("l.status = ?")
        params.append(status)
    for word in text.lower().split():
        where.append("l.search LIKE ? ESCAPE '\\'")
        params.append("%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    if case_ids is not None:
        ids = sorted(set(case_ids))
        if not ids:
            return []
        where.append(f"l.case_id IN ({','.join('?' * len(ids))})")
        params += ids
    sql = f"SELECT {_LOCAL_DOC} FROM {_LOCAL}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY l.reported_at DESC, l.case_id"
    return [case_from_dict(json.loads(r[0])) for r in store.all(sql, params)]


def server_docs(store: Store) -> dict[str, dict[str, Any]]:
    return {r[0]: json.loads(r[1]) for r in store.all("SELECT case_id, doc FROM server_cases")}


def local_docs(store: Store) -> dict[str, dict[str, Any]]:
    return {r[0]: json.loads(r[1]) for r in store.all(f"SELECT l.case_id, {_LOCAL_DOC} FROM {_LOCAL}")}


def local_docs_containing(store: Store, text: str) -> list[tuple[str, dict[str, Any]]]:
    """(case id, local document) of the cases whose document's JSON contains `text` (a photo's
    sha256: hex, nothing LIKE would read as a wildcard)."""
    rows = store.all(
        f"SELECT l.case_id, {_LOCAL_DOC} FROM {_LOCAL} WHERE {_LOCAL_DOC} LIKE ?", (f"%{text}%",)
    )
    return [(r[0], json.loads(r[1])) for r in rows]


def open_local_docs(store: Store, limit: int) -> list[dict[str, Any]]:
    """The local documents of the newest `limit` cases still open."""
    # The newest ones first, then their documents: not a server copy looked up for every case.
    newest = (
        "SELECT case_id, reported_at, doc FROM local_cases WHERE status NOT IN ('closed', 'rejected', "
        "'voided', 'duplicate') ORDER BY reported_at DESC LIMIT ?"
    )
    rows = store.all(
        f"SELECT {_LOCAL_DOC} FROM ({newest}) AS l LEFT JOIN server_cases AS s ON s.case_id = l.case_id "
        "ORDER BY l.reported_at DESC",
        (limit,),
    )
    return [json.loads(r[0]) for r in rows]
