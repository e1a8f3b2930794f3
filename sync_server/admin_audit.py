"""The admin audit: who did what to the server's people, devices, catalogue and keys, and when.

Every `gridsync-server admin …` command that changes something calls `record_admin_action` (and
`init` records itself), inside the same `store.group()` as the change, so both commit in one commit
or neither does. A command that is refused changes nothing and records nothing. Read-only commands
(`devices`, `conflicts`, `audit`) are not recorded.

Entries are append-only (see `store.base.Transaction.record_admin_action` for the guarantees) and
are listed by `gridsync-server admin audit`. A new admin command audits itself with one call:

    with store.group():
        ...the change, through the store...
        record_admin_action(store, "api-key.issue", key_id, before=None, after={"name": name})
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import time
from typing import Any

from sync_server.store.base import AdminAction, Store


def os_user() -> str:
    """The operating-system account running this process (its effective uid), and who ran sudo if
    it was sudo: `root (sudo by alice)`. The uid's name is what counts; SUDO_USER only adds to it."""
    uid = os.geteuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = f"uid {uid}"
    sudo = os.environ.get("SUDO_USER")
    return f"{name} (sudo by {sudo})" if sudo and sudo != name else name


def record_admin_action(
    store: Store, action: str, target: str, *, before: Any = None, after: Any = None, now: int | None = None
) -> AdminAction:
    """Append one entry to the admin audit, in a transaction of its own — or, inside the caller's
    `store.group()`, in the group's commit. `before` and `after` are JSON values (None: nothing
    there); keep secrets out of them (a code's hash, never the code)."""
    entry = AdminAction(
        action=action,
        target=target,
        before=before,
        after=after,
        at=int(time.time()) if now is None else now,
        os_user=os_user(),
    )
    with store.transaction() as tx:
        seq = tx.record_admin_action(entry)
    return AdminAction(entry.action, entry.target, entry.before, entry.after, entry.at, entry.os_user, seq)


def document_summary(doc: Any) -> dict[str, Any] | None:
    """What the audit keeps of a catalogue document (categories, grids, …): how many entries and a
    digest, not the document itself (a city's grids run to megabytes). None: there was none."""
    if doc is None:
        return None
    text = json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    summary: dict[str, Any] = {"sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
    if isinstance(doc, list):
        summary["count"] = len(doc)
    elif isinstance(doc, dict) and isinstance(doc.get("features"), list):
        summary["count"] = len(doc["features"])
    return summary
