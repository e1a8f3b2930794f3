"""The changes feed: what a device pulls after a cursor, sealed to the device.

The cursor is the server-wide change counter: every case write and every recorded outcome takes the
next value. A page holds the visible cases and this device's outcomes after the cursor, in counter
order, at most `limit` items, and never anything above the store's horizon (`Store.change_seq`),
read *before* the queries: every change number at or below it is committed or will never be used.
The next cursor is the last change number of a full page, or the horizon when nothing more is
there, so a device never rescans changes it may not see, and never skips one, whatever the
concurrency of writers: a change committed after a later-numbered one (two PostgreSQL processes)
stays above the horizon until it is committed, and is sent then.

Change numbers mean something only within one incarnation of the store (`store.incarnation`): a
restore from a backup takes the counter back. Every page names the incarnation and the server's
position for the device (the last sequence number it applied): a device whose cursor was taken
under another incarnation starts again from cursor 0, and resends what lies past its position.
"""

from __future__ import annotations

from typing import Any

from shared.envelope import seal_box
from shared.model import Actor, Role
from shared.rules import can_see
from sync_server.json_answer import plain_answer_json
from sync_server.keys import ServerKeys
from sync_server.store.base import ChangeScope, DeviceRecord, Store

BOX_CONTEXT = b"changes"


def scope_of(actor: Actor) -> ChangeScope:
    """The store filter for `shared.rules.can_see` (which still checks every case)."""
    if actor.role is Role.ADMIN or (actor.all_grids and actor.role is not Role.HANDLER):
        return ChangeScope(everything=True)
    if actor.role is Role.HANDLER:
        return ChangeScope(department=actor.department, handler=actor.worker_id)
    return ChangeScope(grids=tuple(sorted(actor.grids)), reporter=actor.worker_id)


def server_position(store: Store, device_id: str) -> dict[str, Any]:
    """Where the server stands for a device, as every page and receipt tells it: the store's
    incarnation and the last sequence number applied from the device (`device_seq`)."""
    device = store.device(device_id)
    return {"incarnation": store.incarnation(), "device_seq": 0 if device is None else device.last_seq}


def collect_changes(
    store: Store,
    device_id: str,
    actor: Actor,
    cursor: int,
    limit: int,
    now: int,
    *,
    retention_s: int | None = None,
) -> dict[str, Any]:
    """`retention_s`: how long the device keeps its sealed segments (the server's config), told in
    the page when given."""
    horizon = store.change_seq()  # before the queries: all at or below it is committed
    cases = store.changed_cases(cursor, limit, scope_of(actor))
    outcomes = store.device_outcomes(device_id, cursor, limit)
    items: list[tuple[int, str, Any]] = [(c.change_seq, "case", c) for c in cases]
    items += [(o.change_seq, "outcome", o.outcome) for o in outcomes]
    items.sort(key=lambda item: item[0])
    full = len(cases) == limit or len(outcomes) == limit
    if full:
        items = items[:limit]
    # Each query is complete up to its own last row: a full page is complete up to its last item.
    # Nothing above the horizon goes out: a lower number may still be uncommitted.
    end = items[-1][0] if full else horizon
    next_cursor = max(cursor, min(end, horizon))
    items = [item for item in items if item[0] <= next_cursor]
    more = full and end <= horizon
    return {
        # stored documents as JSON text, spliced into the page by `sealed_changes` unparsed
        "cases": [c.doc for _, kind, c in items if kind == "case" and can_see(c.case, actor)],
        "outcomes": [o for _, kind, o in items if kind == "outcome"],
        "cursor": next_cursor,
        "more": more,
        "server_time": now,
        **server_position(store, device_id),
        **({} if retention_s is None else {"segment_retention_s": retention_s}),
    }


def sealed_changes(page: dict[str, Any], device: DeviceRecord, keys: ServerKeys, now: int) -> bytes:
    """The page sealed to the device and signed by the server. It names the server's current public
    keys, so a phone learns a rotated encryption key from a box signed by the key it pinned."""
    rest = {k: v for k, v in page.items() if k != "cases"}
    rest["server_keys"] = keys.public.to_dict()
    tail = plain_answer_json(rest)  # the page's outcomes and numbers: no floats
    # Joined as bytes: concatenating the (MB-sized, non-ASCII) str first copied it twice more.
    plaintext = b"".join((b'{"cases":[', ",".join(page["cases"]).encode("utf-8"), b"],", tail[1:]))
    return seal_box(
        plaintext,
        recipient_public_raw=device.encryption_key,
        signer=keys.signing,
        context=BOX_CONTEXT,
        created_at=now,
    )
