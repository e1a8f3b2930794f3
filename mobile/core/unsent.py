"""What waits to go up, counted as a person made it: reports, other actions, photos.

The outbox counts ops (a report with a photo is two: the case and the photo's op) and the photo
store counts blobs; a person made one report and took one photo. A photo counts once, whether its op,
its bytes or both are still to go.
"""

from __future__ import annotations

from dataclasses import dataclass

from mobile.core.store import Store

UNSENT = ("pending", "sealed")


@dataclass(frozen=True, slots=True)
class UnsentWork:
    reports: int
    actions: int  # moves, notes, edits, links, conflict choices
    photos: int

    @property
    def empty(self) -> bool:
        return self.reports == 0 and self.actions == 0 and self.photos == 0


def unsent_work(store: Store) -> UnsentWork:
    rows = store.all(
        "SELECT kind, COUNT(*) FROM outbox WHERE state IN (?, ?) AND kind <> 'photo' GROUP BY kind", UNSENT
    )
    by_kind = {str(r[0]): int(r[1]) for r in rows}
    photos = store.one(
        """SELECT COUNT(*) FROM (
             SELECT json_extract(op, '$.payload.sha256') AS sha FROM outbox
              WHERE state IN (?, ?) AND kind = 'photo'
             UNION
             SELECT sha256 FROM photos WHERE origin = 'local' AND complete = 0
           )""",
        UNSENT,
    )
    reports = by_kind.pop("create", 0)
    return UnsentWork(reports, sum(by_kind.values()), int(photos[0]) if photos else 0)
