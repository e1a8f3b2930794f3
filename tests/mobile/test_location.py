from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mobile.core.location import Fix, FixWindow, LocationChoice, WaitingReason
from shared.errors import GridsyncError

NOW = 1_714_950_000
SHANWEI = (22.7751, 115.3700)


def gps(accuracy_m: float, at: int = NOW, lat: float = SHANWEI[0], lon: float = SHANWEI[1]) -> Fix:
    return Fix(lat, lon, accuracy_m, at, "gps")


def bad_field(make: object) -> None:
    with pytest.raises(GridsyncError) as caught:
        make()  # type: ignore[operator]
    assert caught.value.code == "op.bad_field"


# --- fixes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lat", "lon", "accuracy_m", "at", "source"),
    [
        (90.0001, 0.0, 5.0, NOW, "gps"),
        (-91, 0.0, 5.0, NOW, "gps"),
        (0.0, 180.5, 5.0, NOW, "gps"),
        (0.0, -181, 5.0, NOW, "gps"),
        (math.nan, 0.0, 5.0, NOW, "gps"),
        (0.0, math.inf, 5.0, NOW, "gps"),
        (True, 0.0, 5.0, NOW, "gps"),
        ("22.7", 0.0, 5.0, NOW, "gps"),
        (0.0, 0.0, -1.0, NOW, "gps"),
        (0.0, 0.0, math.inf, NOW, "gps"),
        (0.0, 0.0, 5.0, 1.5, "gps"),
        (0.0, 0.0, 5.0, NOW, "wifi"),
    ],
)
def test_fix_outside_the_globe_or_malformed_is_refused(
    lat: object, lon: object, accuracy_m: object, at: object, source: object
) -> None:
    bad_field(lambda: Fix(lat, lon, accuracy_m, at, source))  # type: ignore[arg-type]


@given(st.floats(-90, 90), st.floats(-180, 180), st.floats(0, 10_000))
def test_every_position_on_the_globe_is_a_valid_fix(lat: float, lon: float, accuracy_m: float) -> None:
    fix = Fix(lat, lon, accuracy_m, NOW)
    assert (fix.lat, fix.lon, fix.accuracy_m, fix.source) == (lat, lon, accuracy_m, "gps")


def test_whole_number_degrees_are_kept_as_floats() -> None:
    fix = Fix(22, 115, 5, NOW)
    assert isinstance(fix.lat, float) and isinstance(fix.lon, float) and isinstance(fix.accuracy_m, float)


# --- the window of live fixes ---------------------------------------------------------------------


def test_best_fix_is_the_most_accurate_in_the_window() -> None:
    window = FixWindow()
    for accuracy, age in [(35.0, 20), (8.0, 12), (15.0, 2)]:
        window.add(gps(accuracy, NOW - age))
    assert window.best(NOW) == gps(8.0, NOW - 12)


def test_equally_accurate_fixes_resolve_to_the_newest() -> None:
    window = FixWindow()
    window.add(gps(10.0, NOW - 5, lat=22.0))
    window.add(gps(10.0, NOW - 1, lat=23.0))
    window.add(gps(10.0, NOW - 3, lat=24.0))
    best = window.best(NOW)
    assert best is not None and best.lat == 23.0


def test_fix_older_than_the_window_no_longer_counts() -> None:
    window = FixWindow(window_s=30)
    window.add(gps(5.0, NOW))
    assert window.best(NOW + 30) == gps(5.0, NOW)
    assert window.best(NOW + 31) is None
    assert not window.is_good(NOW + 31)


def test_an_old_accurate_fix_gives_way_to_a_fresh_poor_one() -> None:
    window = FixWindow(window_s=30)
    window.add(gps(3.0, NOW - 40))
    window.add(gps(60.0, NOW))
    assert window.best(NOW) == gps(60.0, NOW)


def test_window_forgets_fixes_far_older_than_the_newest() -> None:
    window = FixWindow(window_s=30)
    for second in range(10_000):
        window.add(gps(50.0, NOW + second))
    assert len(window._fixes) <= 31


def test_fix_is_good_at_exactly_the_accuracy_threshold() -> None:
    window = FixWindow(good_accuracy_m=20)
    window.add(gps(20.0))
    assert window.is_good(NOW)
    assert window.waiting_reason(NOW) is None


def test_without_any_fix_the_app_waits_for_one() -> None:
    reason = FixWindow().waiting_reason(NOW)
    assert reason == WaitingReason("no_fix", 20)
    assert "Waiting" in reason.message()
    assert "定位" in reason.message("zh-CN")


def test_with_only_poor_fixes_the_app_shows_the_accuracy_it_has() -> None:
    window = FixWindow(good_accuracy_m=20)
    window.add(gps(45.4))
    reason = window.waiting_reason(NOW)
    assert reason is not None and reason.code == "poor_accuracy"
    assert reason.accuracy_m == 45.4
    assert "45 m" in reason.message() and "20 m" in reason.message()
    assert "45 米" in reason.message("zh-CN") and "20 米" in reason.message("zh-CN")
    assert not window.is_good(NOW)


@pytest.mark.parametrize(("window_s", "good"), [(0, 20), (30, 0), (-1, 20)])
def test_window_needs_positive_settings(window_s: int, good: float) -> None:
    with pytest.raises(ValueError):
        FixWindow(window_s, good)


# --- the worker's choice --------------------------------------------------------------------------

CANDIDATES = ("pin", "lock", "good_live", "photo", "poor_live")


def scenario(present: set[str]) -> tuple[LocationChoice, FixWindow, dict[str, Fix]]:
    """A choice and a window holding the candidates named in `present`, each at its own latitude."""
    choice, window, made = LocationChoice(), FixWindow(), {}
    if "pin" in present:
        made["pin"] = choice.pin(21.0, 115.0, NOW)
    if "lock" in present:
        made["lock"] = gps(12.0, NOW - 100, lat=22.0)
        choice.lock(made["lock"])
    if "photo" in present:
        made["photo"] = choice.use_photo_gps(24.0, 115.0, NOW - 600)
    if "poor_live" in present:
        made["poor_live"] = gps(80.0, NOW - 1, lat=25.0)
        window.add(made["poor_live"])
    if "good_live" in present:
        made["good_live"] = gps(6.0, NOW - 2, lat=23.0)
        window.add(made["good_live"])
    return choice, window, made


@given(st.sets(st.sampled_from(CANDIDATES)))
def test_resolve_takes_pin_then_lock_then_good_fix_then_photo_then_poor_fix(present: set[str]) -> None:
    choice, window, made = scenario(present)
    expected = next((made[name] for name in CANDIDATES if name in present), None)
    assert choice.resolve(window, NOW) == expected


def test_manual_pin_is_stored_with_zero_accuracy_and_manual_source() -> None:
    fix = LocationChoice().pin(22.5, 115.1, NOW)
    assert fix == Fix(22.5, 115.1, 0.0, NOW, "manual")


def test_photo_position_is_kept_with_the_photo_time_and_photo_source() -> None:
    fix = LocationChoice().use_photo_gps(22.5, 115.1, NOW - 60)
    assert (fix.source, fix.at, fix.accuracy_m) == ("photo", NOW - 60, 0.0)


def test_when_the_good_fix_expires_the_photo_position_takes_over() -> None:
    choice, window, made = scenario({"good_live", "photo"})
    assert choice.resolve(window, NOW) == made["good_live"]
    assert choice.resolve(window, NOW + 60) == made["photo"]


def test_fix_exactly_as_accurate_as_required_beats_the_photo_position() -> None:
    choice, window, made = scenario({"photo"})
    window.add(gps(20.5))
    assert choice.resolve(window, NOW) == made["photo"]
    window.add(gps(20.0))
    assert choice.resolve(window, NOW) == gps(20.0)


def test_removing_the_pin_falls_back_to_the_locked_position() -> None:
    choice, window, made = scenario({"pin", "lock", "good_live"})
    choice.unpin()
    assert choice.resolve(window, NOW) == made["lock"]
    choice.unlock()
    assert choice.resolve(window, NOW) == made["good_live"]
    choice.forget_photo_gps()
    assert (choice.pinned, choice.locked, choice.photo) == (None, None, None)


@pytest.mark.parametrize(("lat", "lon"), [(91.0, 115.0), (22.0, 181.0), (math.nan, 115.0), (22.0, -math.inf)])
def test_pin_or_photo_position_off_the_globe_is_refused_and_changes_nothing(lat: float, lon: float) -> None:
    choice, _window, made = scenario({"pin", "photo"})
    bad_field(lambda: choice.pin(lat, lon, NOW))
    bad_field(lambda: choice.use_photo_gps(lat, lon, NOW))
    assert (choice.pinned, choice.photo) == (made["pin"], made["photo"])
