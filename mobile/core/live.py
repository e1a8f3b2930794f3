"""Live updates: wait on the server's changes feed (a long-poll) until something this phone may see
changes, so the sync loop can pull it at once instead of at its next periodic round.

One signed `GET /v1/changes?cursor=<ours>&limit=1&wait=<s>`: the server answers 204 when nothing
came within the wait, or a page (which is not applied here: the sync round pulls and applies it, as
always). An idle phone so makes one small request per `wait` seconds, and learns of a change within
about a second of its commit (docs/performance.md).
"""

from __future__ import annotations

from mobile.core.server_api import DEFAULT_TIMEOUT, ServerApi
from mobile.core.store import Store

#: how long one request waits on the server (its maximum): under the client's read timeout, so the
#: device's one HTTP client serves the long-poll as it is
WAIT_S = 25
assert DEFAULT_TIMEOUT.read is not None and DEFAULT_TIMEOUT.read >= WAIT_S + 5


async def changes_waiting(api: ServerApi, store: Store, wait_s: int = WAIT_S) -> bool:
    """True when the server has changes past this phone's cursor (now or within `wait_s`, at most
    WAIT_S); False when the wait ended with none. Raises NetworkError / GridsyncError like every
    request."""
    wait_s = max(1, min(wait_s, WAIT_S))
    cursor = int(store.state("cursor") or 0)
    response = await api.request("GET", "/v1/changes", params={"cursor": cursor, "limit": 1, "wait": wait_s})
    return response.status_code != 204
