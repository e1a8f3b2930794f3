"""Deadlines on the working-time calendar: lunch, weekends, holidays, 调休 make-up days."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import GridsyncError
from shared.worktime import WorkCalendar, calendar_from_dict, calendar_to_dict

CST = timezone(timedelta(hours=8))
DEMO_CALENDAR = Path(__file__).parents[2] / "sync_server" / "data" / "demo_city" / "calendar.json"
CAL = calendar_from_dict(json.loads(DEMO_CALENDAR.read_text(encoding="utf-8")))
# The demo city works 08:30–12:00 and 13:30–18:00 (8 hours a day); the default calendar 09:00–12:00 and
# 13:30–17:30 (7 hours), Monday to Friday, without holidays.
PLAIN = WorkCalendar()


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    """Epoch seconds of a wall-clock moment in China Standard Time."""
    return int(datetime(year, month, day, hour, minute, second, tzinfo=CST).timestamp())


def wall(t: int) -> str:
    return datetime.fromtimestamp(t, CST).strftime("%a %Y-%m-%d %H:%M:%S")


# --- deadlines --------------------------------------------------------------------------------------


def test_two_working_hours_reported_at_11_finish_after_lunch() -> None:
    assert wall(CAL.add_working_hours(at(2026, 3, 2, 11), 2)) == "Mon 2026-03-02 14:30:00"


def test_work_ending_exactly_at_noon_is_due_at_noon_not_after_lunch() -> None:
    assert wall(CAL.add_working_hours(at(2026, 3, 2, 9), 3)) == "Mon 2026-03-02 12:00:00"


def test_report_during_lunch_starts_the_clock_at_half_past_one() -> None:
    assert wall(CAL.add_working_hours(at(2026, 3, 2, 12, 40), 1)) == "Mon 2026-03-02 14:30:00"


def test_report_before_opening_starts_the_clock_at_opening_time() -> None:
    assert wall(CAL.add_working_hours(at(2026, 3, 2, 6, 15), 2)) == "Mon 2026-03-02 10:30:00"


def test_report_in_the_evening_starts_the_clock_next_morning() -> None:
    assert wall(CAL.add_working_hours(at(2026, 3, 2, 21), 2)) == "Tue 2026-03-03 10:30:00"


def test_friday_afternoon_rolls_to_monday() -> None:
    assert wall(CAL.add_working_hours(at(2026, 3, 6, 16), 4)) == "Mon 2026-03-09 10:30:00"


def test_report_on_sunday_starts_the_clock_on_monday_morning() -> None:
    assert wall(CAL.add_working_hours(at(2026, 3, 8, 10), 8)) == "Mon 2026-03-09 18:00:00"


def test_five_working_days_from_monday_morning_end_friday_evening() -> None:
    assert wall(CAL.add_working_hours(at(2026, 3, 2, 8, 30), 40)) == "Fri 2026-03-06 18:00:00"


def test_national_day_holiday_is_skipped() -> None:
    # Wednesday 30 September, then 1–7 October off; Thursday 8 October is a working day.
    assert wall(CAL.add_working_hours(at(2026, 9, 30, 16), 4)) == "Thu 2026-10-08 10:30:00"


def test_makeup_saturday_counts_as_a_working_day() -> None:
    # Friday 13 February before the Spring Festival; Saturday 14 February is 调休上班.
    assert wall(CAL.add_working_hours(at(2026, 2, 13, 17), 2)) == "Sat 2026-02-14 09:30:00"


def test_spring_festival_week_is_skipped_after_the_makeup_saturday() -> None:
    # Saturday 14 Feb works; 15–23 Feb off; Tuesday 24 Feb is next.
    assert wall(CAL.add_working_hours(at(2026, 2, 14, 17, 30), 1)) == "Tue 2026-02-24 09:00:00"


def test_fractional_hours_are_rounded_to_seconds() -> None:
    assert wall(CAL.add_working_hours(at(2026, 3, 2, 9), 0.5)) == "Mon 2026-03-02 09:30:00"
    assert wall(CAL.add_working_hours(at(2026, 3, 2, 9), 1 / 3600)) == "Mon 2026-03-02 09:00:01"


def test_zero_hours_give_the_start_back() -> None:
    assert CAL.add_working_hours(at(2026, 3, 7, 3), 0) == at(2026, 3, 7, 3)


def test_a_hundred_working_days_match_counting_day_by_day() -> None:
    start = at(2026, 1, 5, 8, 30)
    deadline = CAL.add_working_hours(start, 100 * CAL.hours_per_day)
    day, counted = date(2026, 1, 5), 0
    while True:
        if CAL.is_working_day(day):
            counted += 1
            if counted == 100:
                break
        day += timedelta(days=1)
    assert wall(deadline) == f"{day:%a %Y-%m-%d} 18:00:00"


@pytest.mark.parametrize("hours", [-1, float("nan"), float("inf"), 1e9])
def test_impossible_time_limits_are_refused(hours: float) -> None:
    with pytest.raises(GridsyncError) as caught:
        CAL.add_working_hours(at(2026, 3, 2, 9), hours)
    assert caught.value.code == "op.bad_field"


def test_next_working_moment_is_now_inside_hours_and_next_opening_outside() -> None:
    assert CAL.next_working_moment(at(2026, 3, 2, 10)) == at(2026, 3, 2, 10)
    assert CAL.next_working_moment(at(2026, 3, 2, 12)) == at(2026, 3, 2, 13, 30)
    assert CAL.next_working_moment(at(2026, 3, 6, 18)) == at(2026, 3, 9, 8, 30)
    assert CAL.next_working_moment(at(2026, 10, 1, 10)) == at(2026, 10, 8, 8, 30)


# --- days ---------------------------------------------------------------------------------------------


def test_holidays_weekends_and_makeup_days_are_told_apart() -> None:
    assert CAL.is_working_day(date(2026, 3, 2))  # an ordinary Monday
    assert not CAL.is_working_day(date(2026, 3, 7))  # an ordinary Saturday
    assert not CAL.is_working_day(date(2026, 10, 5))  # a Monday in the National Day break
    assert CAL.is_working_day(date(2026, 10, 10))  # a make-up Saturday
    assert CAL.is_working_day(date(2026, 1, 4))  # a make-up Sunday


# --- elapsed working time and overdue ----------------------------------------------------------------


def test_working_time_over_a_weekend_counts_only_friday_and_monday_hours() -> None:
    assert CAL.working_seconds_between(at(2026, 3, 6, 16), at(2026, 3, 9, 10)) == int(3.5 * 3600)


def test_working_time_backwards_is_negative() -> None:
    assert CAL.working_seconds_between(at(2026, 3, 9, 10), at(2026, 3, 6, 16)) == -int(3.5 * 3600)


def test_working_time_within_a_lunch_break_is_zero() -> None:
    assert CAL.working_seconds_between(at(2026, 3, 2, 12, 5), at(2026, 3, 2, 13, 25)) == 0


def test_case_is_not_overdue_until_its_deadline_has_passed() -> None:
    deadline = CAL.add_working_hours(at(2026, 3, 2, 9), 4)  # Monday 14:30
    assert not CAL.is_overdue(deadline, now=deadline)
    assert CAL.is_overdue(deadline, now=deadline + 1)


def test_case_due_friday_evening_is_not_overdue_over_the_weekend() -> None:
    deadline = at(2026, 3, 6, 18)
    assert not CAL.is_overdue(deadline, now=at(2026, 3, 7, 12))
    assert not CAL.is_overdue(deadline, now=at(2026, 3, 9, 8, 30))
    assert CAL.is_overdue(deadline, now=at(2026, 3, 9, 8, 30, 1))


def test_closed_case_is_judged_at_its_closing_moment() -> None:
    deadline = at(2026, 3, 2, 14, 30)
    closed_in_time = at(2026, 3, 2, 14)
    assert not CAL.is_overdue(deadline, now=at(2026, 6, 1, 10), closed_at=closed_in_time)
    assert CAL.closed_on_time(deadline, closed_in_time)
    closed_late = at(2026, 3, 3, 9, 30)
    assert CAL.is_overdue(deadline, now=at(2026, 6, 1, 10), closed_at=closed_late)
    assert not CAL.closed_on_time(deadline, closed_late)


def test_closing_during_lunch_after_a_noon_deadline_is_still_on_time() -> None:
    assert CAL.closed_on_time(at(2026, 3, 2, 12), at(2026, 3, 2, 13, 10))


# --- other calendars and the JSON config -------------------------------------------------------------


def test_default_calendar_keeps_office_hours_with_a_seven_hour_day() -> None:
    assert PLAIN.hours_per_day == 7
    assert wall(PLAIN.add_working_hours(at(2026, 3, 6, 16), 4)) == "Mon 2026-03-09 11:30:00"
    assert wall(PLAIN.add_working_hours(at(2026, 10, 1, 10), 1)) == "Thu 2026-10-01 11:00:00"


def test_demo_city_has_eight_working_hours_a_day_as_its_time_limits_assume() -> None:
    assert CAL.hours_per_day == 8


def test_a_six_day_week_with_one_long_period_and_utc_offset() -> None:
    cal = WorkCalendar(periods=((8 * 60, 18 * 60),), workdays=frozenset(range(6)), utc_offset_minutes=0)
    start = int(datetime(2026, 3, 7, 17, tzinfo=UTC).timestamp())  # Saturday 17:00 UTC
    deadline = cal.add_working_hours(start, 3)
    assert deadline == int(datetime(2026, 3, 9, 10, tzinfo=UTC).timestamp())


def test_calendar_survives_a_json_round_trip() -> None:
    text = json.dumps(calendar_to_dict(CAL))
    assert calendar_from_dict(json.loads(text)) == CAL


def test_demo_calendar_holds_2026_holidays_and_makeup_days() -> None:
    assert date(2026, 2, 17) in CAL.holidays  # 春节
    assert len(CAL.makeup_workdays) == 6
    assert all(d.year == 2026 for d in CAL.holidays | CAL.makeup_workdays)
    assert all(d.weekday() >= 5 for d in CAL.makeup_workdays)


@pytest.mark.parametrize(
    "config",
    [
        {"holiday": ["2026-01-01"]},
        {"periods": [["09:00", "12:00"], ["11:00", "17:30"]]},
        {"periods": [["17:00", "09:00"]]},
        {"periods": [["9:00", "12:00"]]},
        {"periods": []},
        {"workdays": ["monday"]},
        {"workdays": []},
        {"holidays": ["2026-02-30"]},
        {"holidays": ["2026-10-10"], "makeup_workdays": ["2026-10-10"]},
        {"utc_offset_minutes": "480"},
    ],
)
def test_malformed_calendar_config_is_refused(config: dict[str, object]) -> None:
    with pytest.raises(GridsyncError) as caught:
        calendar_from_dict(config)
    assert caught.value.code == "request.malformed"


# --- properties ---------------------------------------------------------------------------------------

# Starts anywhere from December 2025 to January 2027, so holidays and make-up days are crossed.
starts = st.integers(min_value=at(2025, 12, 1), max_value=at(2027, 1, 31))
hours = st.integers(min_value=0, max_value=400 * 3600).map(lambda s: s / 3600)


@given(starts, hours)
def test_the_working_time_to_the_deadline_is_exactly_the_limit(start: int, h: float) -> None:
    deadline = CAL.add_working_hours(start, h)
    assert CAL.working_seconds_between(start, deadline) == round(h * 3600)


@given(starts, hours)
def test_the_deadline_is_the_earliest_moment_the_limit_is_used(start: int, h: float) -> None:
    deadline = CAL.add_working_hours(start, h)
    if h > 0:
        assert CAL.working_seconds_between(start, deadline - 1) == round(h * 3600) - 1


@given(starts, hours, hours)
def test_more_hours_never_give_an_earlier_deadline(start: int, h1: float, h2: float) -> None:
    low, high = sorted((h1, h2))
    assert CAL.add_working_hours(start, low) <= CAL.add_working_hours(start, high)


@given(starts, starts, starts)
def test_working_time_adds_up_over_consecutive_intervals(a: int, b: int, c: int) -> None:
    total = CAL.working_seconds_between(a, b) + CAL.working_seconds_between(b, c)
    assert total == CAL.working_seconds_between(a, c)


@given(starts, hours, starts)
def test_overdue_means_more_working_time_used_than_the_limit(start: int, h: float, now: int) -> None:
    deadline = CAL.add_working_hours(start, h)
    assert CAL.is_overdue(deadline, now) == (CAL.working_seconds_between(start, now) > round(h * 3600))


def _working_minutes_naive(cal: WorkCalendar, a: int, b: int) -> int:
    """The obvious, slow reference: test every minute of [a, b)."""
    count = 0
    for t in range(a, b, 60):
        moment = datetime.fromtimestamp(t, CST)
        minute = moment.hour * 60 + moment.minute
        if cal.is_working_day(moment.date()) and any(s <= minute < e for s, e in cal.periods):
            count += 1
    return count


@settings(max_examples=40, deadline=None)
@given(
    st.integers(min_value=0, max_value=60 * 24 * 50).map(lambda m: at(2026, 9, 1) + 60 * m),
    st.integers(min_value=0, max_value=60 * 24 * 21),
)
def test_working_time_matches_a_minute_by_minute_count(start: int, minutes: int) -> None:
    end = start + 60 * minutes
    assert CAL.working_seconds_between(start, end) == 60 * _working_minutes_naive(CAL, start, end)


@st.composite
def calendars(draw: st.DrawFn) -> WorkCalendar:
    cuts = sorted(draw(st.sets(st.integers(min_value=0, max_value=24 * 60), min_size=2, max_size=6)))
    periods = tuple((cuts[i], cuts[i + 1]) for i in range(0, len(cuts) - 1, 2))
    workdays = draw(st.frozensets(st.integers(min_value=0, max_value=6), min_size=1))
    days = st.integers(min_value=0, max_value=500).map(lambda n: date(2025, 12, 1) + timedelta(days=n))
    holidays = draw(st.frozensets(days, max_size=120))
    makeups = draw(st.frozensets(days, max_size=20)) - holidays
    offset = draw(st.integers(min_value=-12 * 60, max_value=14 * 60))
    return WorkCalendar(periods, workdays, holidays, makeups, offset)


@settings(deadline=None)
@given(calendars(), starts, st.integers(min_value=0, max_value=5000 * 3600).map(lambda s: s / 3600))
def test_any_calendar_uses_exactly_the_limit_and_no_more(cal: WorkCalendar, start: int, h: float) -> None:
    deadline = cal.add_working_hours(start, h)
    assert cal.working_seconds_between(start, deadline) == round(h * 3600)
    if h > 0:
        assert cal.working_seconds_between(start, deadline - 1) == round(h * 3600) - 1
