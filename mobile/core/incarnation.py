"""The server's incarnation as this phone knows it, and what to do when it changes (a restore).

Every receipt and changes page names the server store's incarnation and the server's position for
this device (`device_seq`, the last sequence number it applied). Two things follow:

- A new incarnation means the server came back from a backup: this phone's cursor means nothing
  there. The pull starts again from zero (the page that told it is taken for its cases, not its
  cursor), and every server copy this phone holds is marked stale until the pull from zero sends it again;
  copies the server no longer has are dropped when that pull completes (`finish_resync`).
- A position behind what the server had told this phone (or any position after a new incarnation)
  means the server lacks some of this phone's segments: every retained segment past the position is
  sent again, in order, unchanged (`segments.reopen_after`), so nothing waits behind a gap. After a
  new incarnation this phone's photos are offered again first (the server may lack their blobs).

Local pending ops are untouched throughout: the local view is rebased on the server's cases as usual.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from mobile.core import segments


@dataclass(slots=True)
class Learned:
    reset: bool = False  # a new incarnation: pull from zero
    reopened: bool = False  # segments to send again
    touched: set[str] = field(default_factory=set)  # cases whose local view must be rebased


def learn(conn: sqlite3.Connection, said: dict[str, Any] | Any) -> Learned:
    """Take in what a receipt or a page says about the server (`incarnation`, `device_seq`,
    `segment_retention_s`, any of them absent); in the caller's transaction."""
    learned = Learned()
    if not isinstance(said, dict):
        return learned
    incarnation, device_seq = said.get("incarnation"), said.get("device_seq")
    retention = said.get("segment_retention_s")
    if isinstance(retention, int) and not isinstance(retention, bool) and retention >= 0:
        segments.set_retention(conn, retention)
    if isinstance(incarnation, str) and incarnation:
        row = conn.execute("SELECT incarnation FROM server_life WHERE id = 1").fetchone()
        if row is not None and row[0] != incarnation:
            conn.execute("UPDATE server_life SET incarnation = ? WHERE id = 1", (incarnation,))
            # A phone that never knew one (first page, or upgraded) simply adopts it.
            learned.reset = row[0] is not None
    if learned.reset:
        conn.execute("UPDATE identity SET cursor = 0 WHERE id = 1")
        conn.execute("UPDATE server_life SET resyncing = 1 WHERE id = 1")
        conn.execute("INSERT OR IGNORE INTO stale_cases SELECT case_id FROM server_cases")
        # The restored server may lack blobs uploaded after its backup: ask again for each (an
        # upload starts by asking what the server holds, so a blob it has costs one request).
        conn.execute("UPDATE photos SET complete = 0, error = NULL WHERE origin = 'local' AND complete = 1")
    if not isinstance(device_seq, int) or isinstance(device_seq, bool) or device_seq < 0:
        return learned
    if learned.reset or device_seq < segments.settled_position(conn):
        learned.touched = segments.reopen_after(conn, device_seq)
        learned.reopened = True
    return learned


def finish_resync(conn: sqlite3.Connection) -> set[str]:
    """At the end of a complete pull: server copies a pull from zero did not send again are gone
    from the server (or out of sight); drop them. Returns their case ids (to rebase)."""
    row = conn.execute("SELECT resyncing FROM server_life WHERE id = 1").fetchone()
    if row is None or not row[0]:
        return set()
    gone = {r[0] for r in conn.execute("SELECT case_id FROM stale_cases")}
    conn.execute("DELETE FROM server_cases WHERE case_id IN (SELECT case_id FROM stale_cases)")
    conn.execute("DELETE FROM stale_cases")
    conn.execute("UPDATE server_life SET resyncing = 0 WHERE id = 1")
    return gone
