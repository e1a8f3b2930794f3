"""Deadlines on a working-time calendar (工作时间).

Each category's time limit is counted in *working* hours: the clock runs only inside the day's working
periods (09:00–12:00 and 13:30–17:30 by default), on working days. A working day is a weekday in
`workdays` that is not a public holiday, or a make-up workday (调休上班, usually a Saturday or Sunday).

All times are epoch seconds (int). The calendar is in one fixed local offset (China has no daylight
saving time), so a local day is `(t + offset) // 86400`: no time-zone database is needed.

Invariants (each has a test):
- `working_seconds_between(t, add_working_hours(t, h)) == round(h * 3600)` for every `t` and `h >= 0`;
- the deadline is the *earliest* moment the limit is used up: work that ends exactly at 12:00 is due
  at 12:00, not at 13:30;
- overdue means more working time has passed than the limit allowed. A case due Friday 17:30 is not
  overdue on Saturday; it becomes overdue at the first working second of Monday.
- nothing loops per minute: whole weeks are counted arithmetically, holidays by binary search.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from shared.errors import GridsyncError

DAY = 86_400
_EPOCH_DATE = date(1970, 1, 1)
_EPOCH_WEEKDAY = _EPOCH_DATE.weekday()  # Thursday: weekday of local day 0
_WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

DEFAULT_PERIODS: tuple[tuple[int, int], ...] = ((9 * 60, 12 * 60), (13 * 60 + 30, 17 * 60 + 30))
MONDAY_TO_FRIDAY: frozenset[int] = frozenset(range(5))
# About fifty years of working time: far beyond any time limit, well inside what `date` can hold.
MAX_HOURS = 100_000


def _day_number(d: date) -> int:
    return (d - _EPOCH_DATE).days


def _malformed(detail: str) -> GridsyncError:
    return GridsyncError("request.malformed", f"calendar: {detail}")


@dataclass(frozen=True, slots=True)
class WorkCalendar:
    """When the deadline clock runs.

    `periods` are (start, end) minutes of the local day, sorted and disjoint; `workdays` are
    `date.weekday()` numbers (Monday = 0). A date may not be both a holiday and a make-up workday.
    """

    periods: tuple[tuple[int, int], ...] = DEFAULT_PERIODS
    workdays: frozenset[int] = MONDAY_TO_FRIDAY
    holidays: frozenset[date] = frozenset()
    makeup_workdays: frozenset[date] = frozenset()
    utc_offset_minutes: int = 480
    # Derived, for arithmetic: seconds of the day, and only the exceptions that change a day's status.
    _spans: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False)
    _day_seconds: int = field(init=False, repr=False, compare=False)
    _lost_days: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _gained_days: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Accept lists and sets from callers, but keep the value hashable and immutable.
        _check_periods(self.periods)
        object.__setattr__(self, "periods", tuple((a, b) for a, b in self.periods))
        for name in ("workdays", "holidays", "makeup_workdays"):
            object.__setattr__(self, name, frozenset(getattr(self, name)))
        if not self.workdays or not self.workdays <= set(range(7)):
            raise _malformed(f"workdays must be a non-empty set of weekday numbers 0-6: {self.workdays!r}")
        both = self.holidays & self.makeup_workdays
        if both:
            raise _malformed(f"dates both holiday and make-up workday: {sorted(both)}")
        if not -14 * 60 <= self.utc_offset_minutes <= 14 * 60:
            raise _malformed(f"utc_offset_minutes out of range: {self.utc_offset_minutes}")
        spans = tuple((a * 60, b * 60) for a, b in self.periods)
        lost = sorted(_day_number(d) for d in self.holidays if d.weekday() in self.workdays)
        gained = sorted(_day_number(d) for d in self.makeup_workdays if d.weekday() not in self.workdays)
        object.__setattr__(self, "_spans", spans)
        object.__setattr__(self, "_day_seconds", sum(b - a for a, b in spans))
        object.__setattr__(self, "_lost_days", tuple(lost))
        object.__setattr__(self, "_gained_days", tuple(gained))

    @property
    def hours_per_day(self) -> float:
        """Working hours in one working day (7 for the default periods, 8 for 08:30–12:00 and
        13:30–18:00). Convert a limit given in working days with this, not with a constant."""
        return self._day_seconds / 3600

    # --- days ------------------------------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        if day in self.makeup_workdays:
            return True
        return day not in self.holidays and day.weekday() in self.workdays

    def _is_working_day_number(self, n: int) -> bool:
        return self.is_working_day(_EPOCH_DATE + timedelta(days=n))

    def _working_days_in(self, first: int, stop: int) -> int:
        """How many working days among local day numbers [first, stop)."""
        if stop <= first:
            return 0
        weeks, rest = divmod(stop - first, 7)
        count = weeks * len(self.workdays)
        start_weekday = (first + _EPOCH_WEEKDAY) % 7
        count += sum(1 for i in range(rest) if (start_weekday + i) % 7 in self.workdays)
        count -= bisect_left(self._lost_days, stop) - bisect_left(self._lost_days, first)
        count += bisect_left(self._gained_days, stop) - bisect_left(self._gained_days, first)
        return count

    def _nth_working_day(self, first: int, n: int) -> int:
        """The local day number of the n-th working day (n >= 1) counting from day `first`."""
        day = first
        # A stretch of 7*k days holds at most 7*k working days, so jumping (n-1)//7 weeks never
        # overshoots; each jump removes at least the regular workdays of those weeks less holidays.
        while n > 7:
            weeks = (n - 1) // 7
            n -= self._working_days_in(day, day + 7 * weeks)
            day += 7 * weeks
        while True:
            if self._is_working_day_number(day):
                n -= 1
                if n == 0:
                    return day
            day += 1

    # --- moments ---------------------------------------------------------------------------------

    def _local(self, t: int) -> tuple[int, int]:
        return divmod(t + self.utc_offset_minutes * 60, DAY)

    def _epoch(self, day: int, second: int) -> int:
        return day * DAY + second - self.utc_offset_minutes * 60

    def _worked_by(self, second: int) -> int:
        """Working seconds of a working day that lie before `second` of that day."""
        return sum(max(0, min(second, b) - a) for a, b in self._spans)

    def _moment_after_work(self, day: int, seconds: int) -> int:
        """The earliest moment of working `day` by which `seconds` (0 < s <= day total) are worked."""
        for a, b in self._spans:
            if seconds <= b - a:
                return self._epoch(day, a + seconds)
            seconds -= b - a
        raise AssertionError("more seconds than the working day holds")  # pragma: no cover

    def next_working_moment(self, t: int) -> int:
        """`t` itself if the clock is running at `t`, else the start of the next working period."""
        day, second = self._local(t)
        if self._is_working_day_number(day):
            for a, b in self._spans:
                if second < b:
                    return t if second >= a else self._epoch(day, a)
        day = self._nth_working_day(day + 1, 1)
        return self._epoch(day, self._spans[0][0])

    def add_working_hours(self, start: int, hours: float) -> int:
        """The deadline: the earliest moment at which `hours` of working time after `start` are used.

        A start outside working time starts the clock at the next working moment. Hours are
        rounded to whole seconds. Zero hours gives `start` back unchanged.
        """
        if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not math.isfinite(hours):
            raise GridsyncError("op.bad_field", f"working hours must be a finite number: {hours!r}")
        if not 0 <= hours <= MAX_HOURS:
            raise GridsyncError("op.bad_field", f"working hours must be within 0-{MAX_HOURS}: {hours!r}")
        remaining = round(hours * 3600)
        if remaining == 0:
            return start
        day, second = self._local(start)
        if self._is_working_day_number(day):
            for a, b in self._spans:
                if second >= b:
                    continue
                begin = max(second, a)
                if remaining <= b - begin:
                    return self._epoch(day, begin + remaining)
                remaining -= b - begin
        # Whole working days fully used before the day on which the limit runs out.
        full_days = (remaining - 1) // self._day_seconds
        last_day = self._nth_working_day(day + 1, full_days + 1)
        return self._moment_after_work(last_day, remaining - full_days * self._day_seconds)

    def working_seconds_between(self, a: int, b: int) -> int:
        """Working seconds in [a, b); negative (the same amount) when b is before a."""
        if b < a:
            return -self.working_seconds_between(b, a)
        day_a, sec_a = self._local(a)
        day_b, sec_b = self._local(b)
        if day_a == day_b:
            if not self._is_working_day_number(day_a):
                return 0
            return self._worked_by(sec_b) - self._worked_by(sec_a)
        total = self._working_days_in(day_a + 1, day_b) * self._day_seconds
        if self._is_working_day_number(day_a):
            total += self._day_seconds - self._worked_by(sec_a)
        if self._is_working_day_number(day_b):
            total += self._worked_by(sec_b)
        return total

    def is_overdue(self, deadline: int, now: int, closed_at: int | None = None) -> bool:
        """Whether working time ran past the deadline: by `now`, or by `closed_at` once closed.

        A closed case is judged at its closing moment, so its flag stops changing. Time outside
        working hours never makes a case overdue (due Friday 17:30 is not overdue on Saturday).
        """
        judged_at = now if closed_at is None else closed_at
        return self.working_seconds_between(deadline, judged_at) > 0

    def closed_on_time(self, deadline: int, closed_at: int) -> bool:
        """按期结案: closed before any working time passed beyond the deadline."""
        return not self.is_overdue(deadline, closed_at, closed_at)


def _check_periods(periods: object) -> None:
    if not isinstance(periods, (tuple, list)) or not periods:
        raise _malformed("at least one working period is needed")
    previous_end = 0
    for period in periods:
        if (
            not isinstance(period, (tuple, list))
            or len(period) != 2
            or not all(isinstance(m, int) and not isinstance(m, bool) for m in period)
        ):
            raise _malformed(f"a period is (start, end) whole minutes: {period!r}")
        start, end = period
        if not previous_end <= start < end <= 24 * 60:
            raise _malformed(f"periods must be sorted, disjoint, non-empty, within one day: {periods!r}")
        previous_end = end


# --- JSON config ---------------------------------------------------------------------------------

_FREE_TEXT_KEYS = frozenset({"source", "notes"})
_KNOWN_KEYS = frozenset({"periods", "workdays", "holidays", "makeup_workdays", "utc_offset_minutes"})


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(text: object) -> int:
    if not isinstance(text, str) or len(text) != 5 or text[2] != ":":
        raise _malformed(f"time must be 'HH:MM': {text!r}")
    hh, mm = text[:2], text[3:]
    if not (hh.isdigit() and mm.isdigit() and hh.isascii() and mm.isascii()):
        raise _malformed(f"time must be 'HH:MM': {text!r}")
    hours, minutes = int(hh), int(mm)
    if minutes > 59 or hours * 60 + minutes > 24 * 60:
        raise _malformed(f"no such time of day: {text!r}")
    return hours * 60 + minutes


def _dates(value: object, key: str) -> frozenset[date]:
    if not isinstance(value, list):
        raise _malformed(f"{key} must be a list of 'YYYY-MM-DD' dates")
    days: set[date] = set()
    for item in value:
        if not isinstance(item, str) or len(item) != 10:
            raise _malformed(f"{key}: not a 'YYYY-MM-DD' date: {item!r}")
        try:
            days.add(date.fromisoformat(item))
        except ValueError:
            raise _malformed(f"{key}: not a date: {item!r}") from None
    return frozenset(days)


def calendar_to_dict(calendar: WorkCalendar) -> dict[str, object]:
    """The JSON form: periods as 'HH:MM' pairs, weekdays by name, dates in ISO order."""
    return {
        "utc_offset_minutes": calendar.utc_offset_minutes,
        "periods": [[_hhmm(a), _hhmm(b)] for a, b in calendar.periods],
        "workdays": [_WEEKDAY_NAMES[d] for d in sorted(calendar.workdays)],
        "holidays": [d.isoformat() for d in sorted(calendar.holidays)],
        "makeup_workdays": [d.isoformat() for d in sorted(calendar.makeup_workdays)],
    }


def calendar_from_dict(obj: Mapping[str, object]) -> WorkCalendar:
    """Parse the JSON form. Missing keys take the defaults; unknown keys are refused (typos would
    otherwise silently drop a holiday list); free-text `source` and `notes` are allowed."""
    if not isinstance(obj, Mapping):
        raise _malformed("must be a JSON object")
    unknown = set(obj) - _KNOWN_KEYS - _FREE_TEXT_KEYS
    if unknown:
        raise _malformed(f"unknown keys: {sorted(unknown)}")
    periods = DEFAULT_PERIODS
    if "periods" in obj:
        raw = obj["periods"]
        if not isinstance(raw, list) or not all(isinstance(p, list) and len(p) == 2 for p in raw):
            raise _malformed("periods must be a list of ['HH:MM', 'HH:MM'] pairs")
        periods = tuple((_minutes(p[0]), _minutes(p[1])) for p in raw)
    workdays = MONDAY_TO_FRIDAY
    if "workdays" in obj:
        raw_days = obj["workdays"]
        if not isinstance(raw_days, list) or not all(d in _WEEKDAY_NAMES for d in raw_days):
            raise _malformed(f"workdays must be a list of {list(_WEEKDAY_NAMES)}")
        workdays = frozenset(_WEEKDAY_NAMES.index(str(d)) for d in raw_days)
    offset = obj.get("utc_offset_minutes", 480)
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise _malformed(f"utc_offset_minutes must be an integer: {offset!r}")
    return WorkCalendar(
        periods=periods,
        workdays=workdays,
        holidays=_dates(obj.get("holidays", []), "holidays"),
        makeup_workdays=_dates(obj.get("makeup_workdays", []), "makeup_workdays"),
        utc_offset_minutes=offset,
    )
