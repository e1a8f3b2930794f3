"""The two views of every case on the phone, and the rebase that ties them.

`server_cases` holds each case exactly as the server last sent it. `local_cases` is what the person
sees: the server's case with this phone's still-unsettled ops re-applied by the same pure rules the
server runs (`shared.rules.apply_op`). After every pull the local view is rebuilt from those two
facts (rebase), so the phone never drifts from the server by accumulating its own guesses.

A case with nothing of this phone's left to re-apply (never acted on, or every op settled and
pulled back) has the server's case as its local view: its `local_cases` row keeps the columns the
screens filter on and an empty `doc`, and reads take the document from `server_cases` — a catch-up
writes each case's JSON once, not twice. (`doc` stays NOT NULL, so no migration: rows written
before hold a full document, read as they are.) A receipt or an outcome rebuilds only the cases
whose set of re-applied ops it changes (`views_changed`).
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
from shared.ops import Op
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


def _local_row(case: Case) -> tuple[Any, ...]:
    search = _search_text(case.case_no, case.category, case.description, case.address, case.grid_code)
    return (case.case_id, case.version, str(case.status), case.reporter, case.handler, case.department,
            case.grid_code, case.category, case.reported_at, search, dumps(case_to_dict(case)))  # fmt: skip


def put_local_case(conn: sqlite3.Connection, case: Case) -> None:
    conn.execute(_PUT_LOCAL, _local_row(case))


_PUT_LOCAL = (
    "INSERT INTO local_cases VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (case_id) DO UPDATE SET "
    "version = excluded.version, status = excluded.status, reporter = excluded.reporter, "
    "handler = excluded.handler, department = excluded.department, grid_code = excluded.grid_code, "
    "category = excluded.category, reported_at = excluded.reported_at, search = excluded.search, "
    "doc = excluded.doc"
)


# The ops a case's local view re-applies, by case: with no server copy, every own op (a report the
# server refused stays visible, with its reason, instead of vanishing); on a server copy, those
# without an outcome and those applied at the server in a version this phone has not pulled yet (so
# a receipt never makes a change disappear from the screen until the pull brings it back).
_TO_REAPPLY = (
    "SELECT o.case_id, o.op FROM outbox AS o LEFT JOIN server_cases AS s ON s.case_id = o.case_id "
    "WHERE o.case_id IN (SELECT value FROM json_each(?)) AND (s.case_id IS NULL "
    "OR o.state IN ('pending', 'sealed') "
    "OR (o.state = 'applied' AND json_extract(o.outcome, '$.version') > s.version)) ORDER BY o.case_id, o.seq"
)


def _reapplied(state: str, version: Any, server_version: int) -> bool | None:
    """Whether an op in this state is re-applied on a server copy of `server_version` (as
    `_TO_REAPPLY` says); None when its outcome's version is not a number (then rebase to be sure)."""
    if state in outbox.UNSETTLED:
        return True
    if state != "applied":
        return False
    if version is None:
        return False
    if type(version) is not int:
        return None
    return version > server_version


def views_changed(conn: sqlite3.Connection, settled: Sequence[outbox.Settled]) -> set[str]:
    """The cases whose local view these new outcomes change: those where an op joins or leaves the
    ops re-applied on the server's copy. A case with no server copy re-applies all its own ops
    whatever their outcome, so an outcome alone never changes it (a receipt for new reports)."""
    if not settled:
        return set()
    versions = {
        row[0]: int(row[1])
        for row in conn.execute(
            "SELECT case_id, version FROM server_cases WHERE case_id IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted({s.case_id for s in settled})),),
        )
    }
    changed = set()
    for s in settled:
        held = versions.get(s.case_id)
        if held is None:
            continue
        before, after = _reapplied(*s.before, held), _reapplied(*s.after, held)
        if before is None or after is None or before != after:
            changed.add(s.case_id)
    return changed


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
    A case with a server copy and nothing to re-apply takes its view straight from the copy (an
    empty `doc`: read from `server_cases`) — the common case of a catch-up, and of a pull that
    brings back this phone's own settled ops. `fresh` holds the server's copies just stored (their
    local rows are already made). One query reads the ops, one the server copies, one
    `executemany` writes the rows.
    """
    ids = sorted(set(case_ids))
    if not ids:
        return
    fresh = fresh or {}
    ids_json = json.dumps(ids)
    ops: dict[str, list[Op]] = {}
    for case_id, text in conn.execute(_TO_REAPPLY, (ids_json,)):
        ops.setdefault(case_id, []).append(outbox.decode(text))
    need_copy = [i for i in ids if i not in fresh or i in ops]
    copies = {
        row[0]: row[1]
        for row in conn.execute(
            "SELECT case_id, doc FROM server_cases WHERE case_id IN (SELECT value FROM json_each(?))",
            (json.dumps(need_copy),),
        )
    } if need_copy else {}  # fmt: skip
    rows, gone = [], []
    for case_id in ids:
        copy = fresh.get(case_id)
        text = copy.text if copy is not None else copies.get(case_id)
        if case_id not in ops:
            if text is None:
                gone.append((case_id,))
            else:
                rows.append(
                    copy.local_row if copy is not None else server_copy(json.loads(text), text).local_row
                )
            continue
        case = None if text is None else case_from_dict(json.loads(text))
        for op in ops[case_id]:
            _, new = apply_op(case, op, actor, ctx)
            if new is not None:
                case = new
        if case is None:
            gone.append((case_id,))
        else:
            rows.append(_local_row(case))
    conn.executemany("DELETE FROM local_cases WHERE case_id = ?", gone)
    conn.executemany(_PUT_LOCAL, rows)


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
