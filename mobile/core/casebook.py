"""The two views of every case on the phone, and the rebase that ties them.

`server_cases` holds each case exactly as the server last sent it. `local_cases` is what the person
sees: the server's case with this phone's still-unsettled ops re-applied by the same pure rules the
server runs (`shared.rules.apply_op`). After every pull the local view is rebuilt from those two
facts (rebase), so the phone never drifts from the server by accumulating its own guesses.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

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


def local_case(conn: sqlite3.Connection, case_id: str) -> Case | None:
    row = conn.execute("SELECT doc FROM local_cases WHERE case_id = ?", (case_id,)).fetchone()
    return None if row is None else case_from_dict(json.loads(row[0]))


def put_server_case(conn: sqlite3.Connection, doc: dict[str, Any]) -> str | None:
    """Keep the server's case unless we already hold a newer version. The stored text when stored."""
    case_id, version = doc["case_id"], int(doc["version"])
    stored = conn.execute("SELECT version FROM server_cases WHERE case_id = ?", (case_id,)).fetchone()
    if stored is not None and int(stored[0]) > version:
        return None
    text = dumps(doc)
    conn.execute(
        "INSERT INTO server_cases VALUES (?, ?, ?) ON CONFLICT (case_id) DO UPDATE "
        "SET version = excluded.version, doc = excluded.doc",
        (case_id, version, text),
    )
    return text


def _search_text(case_no: str, category: str, description: str, address: str, grid_code: str) -> str:
    return " ".join((case_no, category, description, address, grid_code)).lower()


def put_local_case(conn: sqlite3.Connection, case: Case) -> None:
    search = _search_text(case.case_no, case.category, case.description, case.address, case.grid_code)
    _put_local_row(conn, case.case_id, case.version, str(case.status), case.reporter, case.handler,
                   case.department, case.grid_code, case.category, case.reported_at, search,
                   dumps(case_to_dict(case)))  # fmt: skip


def put_local_doc(conn: sqlite3.Connection, doc: dict[str, Any], text: str) -> None:
    """The local view of a case this phone has no op on: the server's document as it came."""
    search = _search_text(
        doc.get("case_no", ""), doc["category"], doc.get("description", ""), doc.get("address", ""),
        doc.get("grid_code", ""),
    )  # fmt: skip
    _put_local_row(conn, doc["case_id"], int(doc["version"]), str(doc.get("status", "reported")),
                   doc["reporter"], doc.get("handler"), doc.get("department"), doc.get("grid_code", ""),
                   doc["category"], int(doc.get("reported_at", 0)), search, text)  # fmt: skip


def _put_local_row(conn: sqlite3.Connection, *row: Any) -> None:
    conn.execute(
        "INSERT INTO local_cases VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (case_id) DO UPDATE SET "
        "version = excluded.version, status = excluded.status, reporter = excluded.reporter, "
        "handler = excluded.handler, department = excluded.department, grid_code = excluded.grid_code, "
        "category = excluded.category, reported_at = excluded.reported_at, search = excluded.search, "
        "doc = excluded.doc",
        row,
    )


def rebase(
    conn: sqlite3.Connection,
    case_ids: Iterable[str],
    actor: Actor,
    ctx: RuleContext,
    fresh: dict[str, tuple[dict[str, Any], str]] | None = None,
) -> None:
    """Local view := server case + unsettled own ops, re-applied in sequence order.

    An op the rules now refuse simply has no effect on the view; it stays in the outbox until the
    server's outcome says what became of it (the server is the authority, the phone only predicts).
    `fresh` holds server documents just stored (parsed and as text): a case this phone never acted
    on takes its view straight from them — the common case of a catch-up, with nothing to re-apply.
    """
    acted = outbox.cases_acted_on(conn, list(fresh)) if fresh else set()
    for case_id in sorted(set(case_ids)):
        if fresh is not None and case_id in fresh and case_id not in acted:
            put_local_doc(conn, *fresh[case_id])
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
        where.append("(reporter = ? OR handler = ?)")
        params += [worker_id, worker_id]
    if status:
        where.append("status = ?")
        params.append(status)
    for word in text.lower().split():
        where.append("search LIKE ? ESCAPE '\\'")
        params.append("%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    if case_ids is not None:
        ids = sorted(set(case_ids))
        if not ids:
            return []
        where.append(f"case_id IN ({','.join('?' * len(ids))})")
        params += ids
    sql = "SELECT doc FROM local_cases"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY reported_at DESC, case_id"
    return [case_from_dict(json.loads(r[0])) for r in store.all(sql, params)]


def server_docs(store: Store) -> dict[str, dict[str, Any]]:
    return {r[0]: json.loads(r[1]) for r in store.all("SELECT case_id, doc FROM server_cases")}


def local_docs(store: Store) -> dict[str, dict[str, Any]]:
    return {r[0]: json.loads(r[1]) for r in store.all("SELECT case_id, doc FROM local_cases")}
