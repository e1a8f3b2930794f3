"""综合评价: the evaluation figures for a period, per grid, per worker and per department.

Which cases count
    The *cohort* of a period `[start, end)` is every case whose `reported_at` falls in it
    (`start <= reported_at < end`). Every figure below is about the cohort, as the cases stand when
    the report is made: a case reported on 31 March and closed on 3 April counts as closed in
    March's report made on 10 April. So a rate's numerator is always a subset of its denominator and
    every rate lies in [0, 1]. A case belongs to the group of its `grid_code`, its `reporter` (the
    worker) and its `department` ("" for a case never dispatched).

    *Invalid* cases are those rejected (不予立案), voided (作废) or linked as duplicates; they count in
    `reported` and nowhere else. Every other cohort case is *valid*, including one still waiting to
    be filed: it is expected to close, and leaving it out would reward a centre for not filing.

Counts (each over the group's cohort)
    reported        上报数      all cases reported in the period
    valid           有效上报数  valid cases
    closed          结案数      valid cases whose status is `closed` (a reopened case is not)
    closed_on_time  按期结案数  closed cases with no deadline (fixed on the spot, never dispatched) or
                                `WorkCalendar.closed_on_time(deadline, closed_at)`: no *working* time
                                passed beyond the deadline (due Friday 17:30, closed Saturday: on time)
    dispatched      派遣数      valid cases that were ever dispatched
    extended        延期数      dispatched cases with `extensions > 0` (approved extensions)
    reported_back   反馈数      valid cases that were ever reported back (处理反馈)
    reworked        返工数      reported-back cases with `reworks > 0`
    overdue_open    超期未结数  valid cases in an open status with a deadline, and
                                `WorkCalendar.is_overdue(deadline, now)`

    "Ever dispatched" and "ever reported back" are read from three sources, any one of which is
    enough: the current status (dispatched, handling, returned, reported back, verified — or closed
    without being an on-the-spot fix, since closure then follows verification), the counters (an
    extension or a rework implies both stages), and the timeline (`file`/`dispatch`, `report_back`
    actions). Each source only ever proves that a stage was reached, so their union never
    overcounts, and a case loaded without its timeline still counts by its status.

Rates (a rate with a zero denominator is None, shown as "—"; never 0, never 100%)
    closure_rate    结案率      closed / valid
    on_time_rate    按期结案率  closed_on_time / closed
    rework_rate     返工率      reworked / reported_back
    extension_rate  延期率      extended / dispatched

`compute_report` reads the cases once and keeps only per-group counters: it takes a store cursor
over millions of cases in memory proportional to the number of groups.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from shared.errors import GridsyncError
from shared.model import OPEN_STATES, Case, Status
from shared.worktime import WorkCalendar
from sync_server.export import CHINA_OFFSET_MINUTES, iso_time

INVALID = frozenset({Status.REJECTED, Status.VOIDED, Status.DUPLICATE})
_DISPATCHED_NOW = frozenset(
    {Status.DISPATCHED, Status.HANDLING, Status.RETURNED, Status.REPORTED_BACK, Status.VERIFIED}
)
_REPORTED_BACK_NOW = frozenset({Status.REPORTED_BACK, Status.VERIFIED})
_DISPATCH_ACTIONS = frozenset({"file", "dispatch"})
NO_VALUE = "—"


def day_start(day: date, utc_offset_minutes: int) -> int:
    """Midnight at the start of `day` where the city is (`WorkCalendar.utc_offset_minutes`), as epoch
    seconds: a period's day boundaries are the city's, whatever the server's own zone."""
    midnight_utc = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return int(midnight_utc.timestamp()) - utc_offset_minutes * 60


def local_day(epoch: int, utc_offset_minutes: int) -> date:
    """The city's calendar day at an instant."""
    return (datetime.fromtimestamp(epoch, UTC) + timedelta(minutes=utc_offset_minutes)).date()


def _rate(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else numerator / denominator


@dataclass(frozen=True, slots=True)
class Figures:
    """The counts of one group; the rates derive from them (see the module docstring)."""

    reported: int = 0
    valid: int = 0
    closed: int = 0
    closed_on_time: int = 0
    dispatched: int = 0
    extended: int = 0
    reported_back: int = 0
    reworked: int = 0
    overdue_open: int = 0

    @property
    def closure_rate(self) -> float | None:
        return _rate(self.closed, self.valid)

    @property
    def on_time_rate(self) -> float | None:
        return _rate(self.closed_on_time, self.closed)

    @property
    def rework_rate(self) -> float | None:
        return _rate(self.reworked, self.reported_back)

    @property
    def extension_rate(self) -> float | None:
        return _rate(self.extended, self.dispatched)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = asdict(self)
        out["closure_rate"] = self.closure_rate
        out["on_time_rate"] = self.on_time_rate
        out["rework_rate"] = self.rework_rate
        out["extension_rate"] = self.extension_rate
        return out


_COUNT_NAMES = tuple(f.name for f in fields(Figures))


@dataclass(frozen=True, slots=True)
class Report:
    start: int
    end: int
    now: int
    total: Figures
    by_grid: Mapping[str, Figures]
    by_worker: Mapping[str, Figures]
    by_department: Mapping[str, Figures]

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "now": self.now,
            "total": self.total.to_dict(),
            "by_grid": {k: v.to_dict() for k, v in self.by_grid.items()},
            "by_worker": {k: v.to_dict() for k, v in self.by_worker.items()},
            "by_department": {k: v.to_dict() for k, v in self.by_department.items()},
        }


# --- computing ---------------------------------------------------------------------------------------


def _actions(case: Case) -> set[str]:
    return {entry.action for entry in case.timeline}


def _was_dispatched(case: Case, status: Status, actions: set[str]) -> bool:
    return (
        status in _DISPATCHED_NOW
        or (status is Status.CLOSED and not case.on_spot)
        or case.extensions > 0
        or case.reworks > 0
        or bool(actions & _DISPATCH_ACTIONS)
    )


def _was_reported_back(case: Case, status: Status, actions: set[str]) -> bool:
    return (
        status in _REPORTED_BACK_NOW
        or (status is Status.CLOSED and not case.on_spot)
        or case.reworks > 0
        or "report_back" in actions
    )


def case_counts(case: Case, now: int, calendar: WorkCalendar) -> tuple[int, ...]:
    """What one cohort case adds to its groups: 0 or 1 per field of `Figures`, in field order."""
    status = Status(case.status)
    if status in INVALID:
        return (1, *(0,) * (len(_COUNT_NAMES) - 1))
    actions = _actions(case)
    closed = status is Status.CLOSED
    on_time = closed and (
        case.deadline is None
        or (case.closed_at is not None and calendar.closed_on_time(case.deadline, case.closed_at))
    )
    dispatched = _was_dispatched(case, status, actions)
    reported_back = _was_reported_back(case, status, actions)
    overdue = status in OPEN_STATES and case.deadline is not None and calendar.is_overdue(case.deadline, now)
    return (
        1,
        1,
        int(closed),
        int(on_time),
        int(dispatched),
        int(dispatched and case.extensions > 0),
        int(reported_back),
        int(reported_back and case.reworks > 0),
        int(overdue),
    )


def _add(tallies: dict[str, list[int]], key: str, counts: tuple[int, ...]) -> None:
    tally = tallies.get(key)
    if tally is None:
        tallies[key] = list(counts)
    else:
        for i, n in enumerate(counts):
            tally[i] += n


def _frozen(tallies: dict[str, list[int]]) -> dict[str, Figures]:
    return {key: Figures(*tallies[key]) for key in sorted(tallies)}


def compute_report(
    cases: Iterable[Case], *, start: int, end: int, now: int, calendar: WorkCalendar | None = None
) -> Report:
    """The figures of the cases reported in `[start, end)`, as they stand at `now`.

    `calendar` decides on-time closure and overdue on working time; the default is the standard
    calendar (Monday to Friday, 09:00–12:00 and 13:30–17:30, UTC+8, no holidays) — pass the city's.
    """
    if start >= end:
        raise GridsyncError("request.malformed", f"report period must have start < end: [{start}, {end})")
    cal = calendar if calendar is not None else WorkCalendar()
    total = [0] * len(_COUNT_NAMES)
    by_grid: dict[str, list[int]] = {}
    by_worker: dict[str, list[int]] = {}
    by_department: dict[str, list[int]] = {}
    for case in cases:
        if not start <= case.reported_at < end:
            continue
        counts = case_counts(case, now, cal)
        for i, n in enumerate(counts):
            total[i] += n
        _add(by_grid, case.grid_code, counts)
        _add(by_worker, case.reporter, counts)
        _add(by_department, case.department or "", counts)
    return Report(
        start=start,
        end=end,
        now=now,
        total=Figures(*total),
        by_grid=_frozen(by_grid),
        by_worker=_frozen(by_worker),
        by_department=_frozen(by_department),
    )


# --- rendering ---------------------------------------------------------------------------------------

_LABELS: dict[str, tuple[str, str]] = {
    "title": ("综合评价", "Evaluation"),
    "as_of": ("截至", "as of"),
    "grid": ("网格", "Grid"),
    "worker": ("网格员", "Worker"),
    "department": ("处置部门", "Department"),
    "total": ("合计", "Total"),
    "no_grid": ("（无网格）", "(no grid)"),
    "no_department": ("（未派遣）", "undispatched"),
    "no_worker": ("（无）", "(none)"),
    "reported": ("上报数", "Reported"),
    "valid": ("有效上报数", "Valid"),
    "closed": ("结案数", "Closed"),
    "closure_rate": ("结案率", "Closure rate"),
    "on_time_rate": ("按期结案率", "On-time rate"),
    "rework_rate": ("返工率", "Rework rate"),
    "extension_rate": ("延期率", "Extension rate"),
    "overdue_open": ("超期未结", "Overdue open"),
}


def _label(key: str, lang: str) -> str:
    zh, en = _LABELS[key]
    return zh if lang.startswith("zh") else en


def format_rate(rate: float | None) -> str:
    """A rate as a percentage with one decimal, or "—" when it has no denominator."""
    return NO_VALUE if rate is None else f"{rate * 100:.1f}%"


def _row(name: str, f: Figures) -> list[str]:
    rates = (f.closure_rate, f.on_time_rate, f.rework_rate, f.extension_rate)
    return [name, str(f.reported), str(f.valid), str(f.closed), *map(format_rate, rates), str(f.overdue_open)]


_COLUMNS = (
    "reported",
    "valid",
    "closed",
    "closure_rate",
    "on_time_rate",
    "rework_rate",
    "extension_rate",
    "overdue_open",
)


def report_tables(
    report: Report, lang: str = "zh-CN", utc_offset_minutes: int = CHINA_OFFSET_MINUTES
) -> list[Table]:
    """One rich table per grouping (grid, worker, department), each ending with the total row."""
    period = f"{iso_time(report.start, utc_offset_minutes)} – {iso_time(report.end, utc_offset_minutes)}"
    as_of = f"{_label('as_of', lang)} {iso_time(report.now, utc_offset_minutes)}"
    groups = (
        ("grid", report.by_grid, "no_grid"),
        ("worker", report.by_worker, "no_worker"),
        ("department", report.by_department, "no_department"),
    )
    tables = []
    for key, figures, empty in groups:
        table = Table(title=f"{_label('title', lang)} · {_label(key, lang)}  {period}", caption=as_of)
        table.add_column(_label(key, lang))
        for column in _COLUMNS:
            table.add_column(_label(column, lang), justify="right")
        for name, f in figures.items():
            table.add_row(*_row(name or _label(empty, lang), f))
        table.add_section()
        table.add_row(*_row(_label("total", lang), report.total))
        tables.append(table)
    return tables


def render_report(
    report: Report, lang: str = "zh-CN", *, width: int = 120, utc_offset_minutes: int = CHINA_OFFSET_MINUTES
) -> str:
    """The report as plain text (box-drawn tables, no colour codes), for a terminal or a file."""
    console = Console(record=True, width=width, file=io.StringIO(), color_system=None)
    for table in report_tables(report, lang, utc_offset_minutes):
        console.print(table)
    return console.export_text()
