"""The 综合评价 figures on a hand-built city of 17 cases, every number worked out by hand below.

Period: March 2024, [2024-03-01 00:00, 2024-04-01 00:00) +08:00. The report is made on Wednesday
2024-04-10 at 10:00. Calendar: the default (Mon–Fri 09:00–12:00, 13:30–17:30, +08:00, no holidays).

case grid worker dept  status         on_spot deadline      closed        ext rew  timeline
c01  G1   w1     san   closed         no      03-04 12:00   03-04 11:00   0   0
c02  G1   w1     san   closed         no      03-05 12:00   03-05 15:00   0   1    (late: 3 working h)
c03  G1   w1     road  closed         no      Fri 03-08 17:30  Sat 03-09 10:00  1  0  (on time: weekend)
c04  G1   w2     -     closed         yes     -             03-06 10:00   0   0    (fixed on the spot)
c05  G1   w2     -     rejected
c06  G2   w2     san   duplicate                                          0   0
c07  G2   w2     road  voided                                             1   0
c08  G2   w3     -     reported       (waiting to be filed)
c09  G2   w3     san   handling       no      Fri 03-29 17:30                1   0    (overdue now)
c10  G2   w3     road  handling       no      04-12 12:00                 0   1    (not yet due)
c11  G2   w1     road  reported_back  no      03-20 12:00                 0   0    (overdue now)
c12  G1   w1     san   verified       no      04-15 12:00                 0   0
c13  G1   w3     road  returned       no      03-15 12:00                 0   0    (overdue now)
c16  G1   w1     san   dispatched     no      Wed 04-10 09:30             0   0    (30 working min over)
c17  G2   w2     road  closed         yes     Fri 03-22 17:30  Mon 03-25 09:00  0  0  file…report_back…close
                 (flagged on the spot but filed instead: only its timeline shows dispatch and report-back;
                  closed at Monday's first working second, so no working time passed: on time)
c14  G1   w1     san   closed, reported 02-28: before the period
c15  G2   w2     san   reported at exactly 04-01 00:00: the period is half-open, so outside

Cohort (15): c01–c13, c16, c17.  Invalid: c05, c06, c07.  Valid (12): the other twelve.
closed: c01 c02 c03 c04 c17 = 5;  on time: c01 c03 c04 c17 = 4 (c02 late)
dispatched: c01 c02 c03 c09 c10 c11 c12 c13 c16 c17 = 10 (not c04 on the spot, not c08 unfiled)
extended: c03 c09 = 2 (c07 has an extension but is voided)
reported back: c01 c02 c03 (closed, not on the spot) c10 (reworked) c11 c12 (status) c17 (timeline) = 7
reworked: c02 c10 = 2
overdue open: c09 c11 c13 c16 = 4 (c10, c12 not yet due; c08 no deadline)
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import GridsyncError
from shared.model import Case, Status, TimelineEntry
from sync_server.reports import Figures, Report, compute_report, format_rate, render_report, report_tables

CST = timezone(timedelta(hours=8))


def at(month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(2024, month, day, hour, minute, tzinfo=CST).timestamp())


START, END, NOW = at(3, 1), at(4, 1), at(4, 10, 10)
S = Status


def case(
    case_id: str,
    grid: str,
    worker: str,
    dept: str | None,
    status: Status,
    *,
    reported: int | None = None,
    deadline: int | None = None,
    closed: int | None = None,
    on_spot: bool = False,
    ext: int = 0,
    rew: int = 0,
    actions: tuple[str, ...] = (),
) -> Case:
    timeline = [
        TimelineEntry(i + 1, f"op{i}", "sup", "transition", a, "", "applied", 0)
        for i, a in enumerate(actions)
    ]
    return Case(
        case_id=case_id,
        category="0101",
        reporter=worker,
        status=status,
        grid_code=grid,
        department=dept,
        reported_at=at(3, 2) if reported is None else reported,
        deadline=deadline,
        closed_at=closed,
        on_spot=on_spot,
        extensions=ext,
        reworks=rew,
        timeline=timeline,
    )


CITY = [
    case("c01", "G1", "w1", "san", S.CLOSED, deadline=at(3, 4, 12), closed=at(3, 4, 11)),
    case("c02", "G1", "w1", "san", S.CLOSED, deadline=at(3, 5, 12), closed=at(3, 5, 15), rew=1),
    case("c03", "G1", "w1", "road", S.CLOSED, deadline=at(3, 8, 17, 30), closed=at(3, 9, 10), ext=1),
    case("c04", "G1", "w2", None, S.CLOSED, closed=at(3, 6, 10), on_spot=True),
    case("c05", "G1", "w2", None, S.REJECTED),
    case("c06", "G2", "w2", "san", S.DUPLICATE),
    case("c07", "G2", "w2", "road", S.VOIDED, ext=1),
    case("c08", "G2", "w3", None, S.REPORTED),
    case("c09", "G2", "w3", "san", S.HANDLING, deadline=at(3, 29, 17, 30), ext=1),
    case("c10", "G2", "w3", "road", S.HANDLING, deadline=at(4, 12, 12), rew=1),
    case("c11", "G2", "w1", "road", S.REPORTED_BACK, deadline=at(3, 20, 12)),
    case("c12", "G1", "w1", "san", S.VERIFIED, deadline=at(4, 15, 12)),
    case("c13", "G1", "w3", "road", S.RETURNED, deadline=at(3, 15, 12)),
    case("c14", "G1", "w1", "san", S.CLOSED, reported=at(2, 28), deadline=at(3, 1, 12), closed=at(3, 1, 11)),
    case("c15", "G2", "w2", "san", S.REPORTED, reported=END),
    case("c16", "G1", "w1", "san", S.DISPATCHED, reported=START, deadline=at(4, 10, 9, 30)),
    case(
        "c17",
        "G2",
        "w2",
        "road",
        S.CLOSED,
        deadline=at(3, 22, 17, 30),
        closed=at(3, 25, 9),
        on_spot=True,
        actions=("file", "start", "report_back", "verify", "close"),
    ),
]


def report() -> Report:
    return compute_report(CITY, start=START, end=END, now=NOW)


def test_city_totals_match_the_hand_count() -> None:
    assert report().total == Figures(
        reported=15, valid=12, closed=5, closed_on_time=4, dispatched=10, extended=2,
        reported_back=7, reworked=2, overdue_open=4,
    )  # fmt: skip


def test_city_rates_match_the_hand_count() -> None:
    total = report().total
    assert total.closure_rate == 5 / 12
    assert total.on_time_rate == 4 / 5
    assert total.rework_rate == 2 / 7
    assert total.extension_rate == 2 / 10


def test_figures_per_grid() -> None:
    # G1: c01 c02 c03 c04 c05 c12 c13 c16 — c05 rejected; closed c01-c04, c02 late; dispatched c01 c02
    # c03 c12 c13 c16; extended c03; reported back c01 c02 c03 c12; reworked c02; overdue c13 c16.
    # G2: c06 c07 c08 c09 c10 c11 c17 — c06 c07 invalid; closed c17; dispatched c09 c10 c11 c17;
    # extended c09; reported back c10 c11 c17; reworked c10; overdue c09 c11.
    assert report().by_grid == {
        "G1": Figures(8, 7, 4, 3, 6, 1, 4, 1, 2),
        "G2": Figures(7, 5, 1, 1, 4, 1, 3, 1, 2),
    }


def test_figures_per_worker() -> None:
    # w1: c01 c02 c03 c11 c12 c16 — all valid and dispatched; closed c01-c03 (c02 late); extended c03;
    # reported back c01 c02 c03 c11 c12; reworked c02; overdue c11 c16.
    # w2: c04 c05 c06 c07 c17 — valid c04 c17, both closed on time; only c17 dispatched/reported back.
    # w3: c08 c09 c10 c13 — nothing closed; dispatched c09 c10 c13; extended c09; reported back and
    # reworked c10; overdue c09 c13.
    by_worker = report().by_worker
    assert by_worker == {
        "w1": Figures(6, 6, 3, 2, 6, 1, 5, 1, 2),
        "w2": Figures(5, 2, 2, 2, 1, 0, 1, 0, 0),
        "w3": Figures(4, 4, 0, 0, 3, 1, 1, 1, 2),
    }
    assert by_worker["w3"].on_time_rate is None  # 0 closed: no rate, not 0%
    assert by_worker["w3"].closure_rate == 0.0


def test_figures_per_department_with_undispatched_cases_under_the_empty_key() -> None:
    # san: c01 c02 c06 c09 c12 c16 — c06 duplicate; closed c01 c02 (c02 late); dispatched c01 c02 c09
    # c12 c16; extended c09; reported back c01 c02 c12; reworked c02; overdue c09 c16.
    # road: c03 c07 c10 c11 c13 c17 — c07 voided; closed c03 c17, both on time; dispatched c03 c10 c11
    # c13 c17; extended c03; reported back c03 c10 c11 c17; reworked c10; overdue c11 c13.
    # "": c04 c05 c08 — c05 rejected; closed c04 on the spot; nothing dispatched.
    by_department = report().by_department
    assert by_department == {
        "": Figures(3, 2, 1, 1, 0, 0, 0, 0, 0),
        "road": Figures(6, 5, 2, 2, 5, 1, 4, 1, 2),
        "san": Figures(6, 5, 2, 1, 5, 1, 3, 1, 2),
    }
    assert by_department[""].extension_rate is None
    assert by_department[""].rework_rate is None


def test_closing_on_saturday_for_a_friday_deadline_is_on_time() -> None:
    only_c03 = compute_report([CITY[2]], start=START, end=END, now=NOW)
    assert only_c03.total.closed_on_time == 1


def test_case_without_timeline_still_counts_by_its_status() -> None:
    # c11 as loaded by a summary query: no timeline, status reported_back.
    assert compute_report([CITY[10]], start=START, end=END, now=NOW).total.reported_back == 1


def test_period_must_not_be_empty() -> None:
    with pytest.raises(GridsyncError) as caught:
        compute_report(CITY, start=END, end=END, now=NOW)
    assert caught.value.code == "request.malformed"


def test_empty_period_gives_no_rates_rather_than_zero() -> None:
    empty = compute_report([], start=START, end=END, now=NOW)
    assert empty.total == Figures()
    assert empty.by_grid == {}
    rates = (empty.total.closure_rate, empty.total.on_time_rate, empty.total.rework_rate)
    assert rates == (None, None, None)


def test_to_dict_carries_counts_rates_and_period() -> None:
    d = report().to_dict()
    assert (d["start"], d["end"], d["now"]) == (START, END, NOW)
    assert d["total"]["valid"] == 12
    assert d["total"]["on_time_rate"] == 0.8
    assert d["by_worker"]["w3"]["on_time_rate"] is None
    assert set(d) == {"start", "end", "now", "total", "by_grid", "by_worker", "by_department"}


def test_rates_format_as_percentages_and_dash() -> None:
    assert format_rate(None) == "—"
    assert format_rate(5 / 12) == "41.7%"
    assert format_rate(1.0) == "100.0%"


def test_rendered_report_in_chinese_shows_the_hand_counted_totals() -> None:
    text = render_report(report(), "zh-CN")
    assert "结案率" in text and "按期结案率" in text and "（未派遣）" in text
    total_lines = [line for line in text.splitlines() if "合计" in line]
    assert len(total_lines) == 3  # one per table
    assert all("41.7%" in line and "80.0%" in line and "28.6%" in line for line in total_lines)
    assert "\x1b" not in text  # plain text, no colour codes


def test_rendered_report_in_english_shows_dash_for_no_rate() -> None:
    text = render_report(report(), "en")
    w3 = next(line for line in text.splitlines() if " w3 " in line)
    assert "—" in w3
    assert "Closure rate" in text and "undispatched" in text
    assert len(report_tables(report(), "en")) == 3


# --- properties ------------------------------------------------------------------------------------


@st.composite
def random_case(draw: st.DrawFn) -> Case:
    status = draw(st.sampled_from(list(Status)))
    return case(
        f"x{draw(st.integers(0, 10**6))}",
        draw(st.sampled_from(["G1", "G2", "G3"])),
        draw(st.sampled_from(["w1", "w2"])),
        draw(st.sampled_from([None, "san", "road"])),
        status,
        reported=draw(st.integers(START - 86400, END + 86400)),
        deadline=draw(st.none() | st.integers(START, END + 30 * 86400)),
        closed=draw(st.integers(START, END + 30 * 86400)) if status == Status.CLOSED else None,
        on_spot=draw(st.booleans()),
        ext=draw(st.integers(0, 2)),
        rew=draw(st.integers(0, 2)),
        actions=tuple(
            draw(st.lists(st.sampled_from(["file", "dispatch", "report_back", "close"]), max_size=3))
        ),
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(random_case(), max_size=30))
def test_rates_stay_within_zero_and_one_and_groups_add_up_to_the_total(cases: list[Case]) -> None:
    r = compute_report(cases, start=START, end=END, now=NOW)
    for grouping in (r.by_grid, r.by_worker, r.by_department):
        summed = [sum(getattr(f, name) for f in grouping.values()) for name in Figures.__dataclass_fields__]
        assert summed == [getattr(r.total, name) for name in Figures.__dataclass_fields__]
    for f in (r.total, *r.by_grid.values()):
        for rate in (f.closure_rate, f.on_time_rate, f.rework_rate, f.extension_rate):
            assert rate is None or 0.0 <= rate <= 1.0
