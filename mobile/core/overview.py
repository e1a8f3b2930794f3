"""What a supervisor and a worker look at beyond single cases: the approval queue and the dashboard.

Pure functions over the local cases: the same numbers the evaluation (综合评价) computes on the
server, over the cases this phone can see.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.model import Case, Status
from shared.rules import is_overdue
from shared.worktime import WorkCalendar

NOT_VALID = frozenset({Status.REJECTED, Status.VOIDED, Status.DUPLICATE})


def waits_for_supervisor(case: Case) -> bool:
    """Verified or on-the-spot reported cases waiting for closure, extension requests, open conflicts."""
    status = Status(case.status)
    if status is Status.VERIFIED or (status is Status.REPORTED and case.on_spot):
        return True
    if case.extension_hours is not None and status is Status.HANDLING:
        return True
    return bool(case.open_conflicts())


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def dashboard(cases: Iterable[Case], now: int, calendar: WorkCalendar | None = None) -> dict[str, Any]:
    """Counts per status, closure and on-time closure rates, rework and extension rates, overdue
    cases, and the same per grid. `now` is on the server's clock (`Device.server_now`); with the
    city's `calendar`, overdue and on-time count working time only, as the server's reports do."""
    by_status: dict[str, int] = {}
    per_grid: dict[str, dict[str, int]] = {}
    valid = closed = on_time = overdue = reworked = extended = conflicts = 0
    for case in cases:
        status = Status(case.status)
        by_status[status.value] = by_status.get(status.value, 0) + 1
        grid = per_grid.setdefault(case.grid_code, {"total": 0, "closed": 0, "overdue": 0, "open": 0})
        grid["total"] += 1
        late = is_overdue(case, now, calendar)
        if status in NOT_VALID:
            continue
        valid += 1
        reworked += case.reworks > 0
        extended += case.extensions > 0
        conflicts += bool(case.open_conflicts())
        if status is Status.CLOSED:
            closed += 1
            grid["closed"] += 1
            on_time += not late  # judged at closure: no (working) time past the deadline
        else:
            grid["open"] += 1
            if late:
                overdue += 1
                grid["overdue"] += 1
    return {
        "total": sum(by_status.values()),
        "by_status": by_status,
        "valid": valid,
        "closed": closed,
        "closure_rate": _rate(closed, valid),
        "on_time_closure_rate": _rate(on_time, closed),
        "rework_rate": _rate(reworked, valid),
        "extension_rate": _rate(extended, valid),
        "overdue": overdue,
        "open_conflicts": conflicts,
        "per_grid": dict(sorted(per_grid.items())),
    }
