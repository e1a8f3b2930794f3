"""Capturing a report without a screen: category, photos, position precedence, one local save."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from mobile.app.i18n import Translator
from mobile.app.state.report import ReportState
from mobile.core.device import Device
from mobile.core.location import Fix
from shared.errors import GridsyncError
from tests.mobile.conftest import GRID_A, GRID_B, Clock, fix_in, grid_centre, jpeg


def jpeg_with_gps(lat: float, lon: float) -> bytes:
    def dms(value: float) -> tuple[float, float, float]:
        d = int(value)
        m = int((value - d) * 60)
        return (float(d), float(m), round(((value - d) * 60 - m) * 60, 4))

    image = Image.new("RGB", (80, 60), (200, 50, 50))
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: dms(lat), 3: "E", 4: dms(lon)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


@pytest.fixture
def report(offline_device: Device, clock: Clock) -> ReportState:
    return ReportState(offline_device, Translator("en"), clock=clock)


def test_categories_come_in_two_levels_and_search_matches_both_languages(report: ReportState) -> None:
    groups = report.category_groups("")
    assert len(groups) == 12  # six component majors, six event majors; nothing used recently yet
    assert groups[0].title.startswith("Components · 01 Public utilities")
    assert [c.code for c in report.category_groups("井盖")[0].categories] == ["0101"]
    assert [c.code for c in report.category_groups("manhole")[0].categories] == ["0101"]


def test_recently_used_categories_come_first(report: ReportState, clock: Clock) -> None:
    report.pick_category("0103")
    report.add_photo(jpeg(1))
    report.add_fix(fix_in(GRID_A, clock()))
    report.save()
    groups = report.category_groups("")
    assert groups[0].title == "Recently used"
    assert [c.code for c in groups[0].categories] == ["0103"]


def test_saving_offline_writes_one_case_with_its_photo_and_clears_the_form(
    report: ReportState, offline_device: Device, clock: Clock
) -> None:
    assert len(report.missing()) == 3
    report.pick_category("0101")
    report.add_photo(jpeg(2))
    report.add_fix(fix_in(GRID_A, clock()))
    report.description = "  cover cracked  "
    case_id = report.save()
    cases = offline_device.cases()
    assert [v.case.case_id for v in cases] == [case_id]
    case = cases[0].case
    assert (case.category, case.grid_code, case.description) == ("0101", GRID_A, "cover cracked")
    assert case.photo_counts()["before"] == 1
    assert cases[0].pending
    assert offline_device.pending().ops == 2  # the create and the photo
    assert report.category is None and report.photos == [] and report.location() is None


def test_a_manual_pin_beats_a_lock_which_beats_a_good_fix_which_beats_photo_gps(
    report: ReportState, clock: Clock
) -> None:
    lat_b, lon_b = grid_centre(GRID_B)
    report.add_photo(jpeg_with_gps(lat_b, lon_b))
    assert report.location() is not None and report.location().source == "photo"  # type: ignore[union-attr]
    assert report.grid() is not None and report.grid().code == GRID_B  # type: ignore[union-attr]
    poor = Fix(*grid_centre(GRID_A), 80.0, clock(), "gps")
    report.add_fix(poor)
    assert report.location().source == "photo"  # type: ignore[union-attr]  # a photo beats a poor fix
    good = fix_in(GRID_A, clock())
    report.add_fix(good)
    assert report.location() == good
    assert report.lock()
    report.add_fix(Fix(good.lat + 0.0005, good.lon, 3.0, clock() + 1, "gps"))
    assert report.location() == good  # locked: later fixes do not move it
    pinned = report.pin(lat_b, lon_b)
    assert report.location() == pinned and pinned.source == "manual"
    report.unpin()
    report.unlock()
    assert report.location().accuracy_m == 3.0  # type: ignore[union-attr]


def test_removing_the_only_photo_with_gps_forgets_its_position(report: ReportState) -> None:
    report.add_photo(jpeg_with_gps(*grid_centre(GRID_B)))
    report.remove_photo(0)
    assert report.location() is None


def test_waiting_for_a_good_fix_is_explained(report: ReportState, clock: Clock) -> None:
    assert report.waiting_message() == "Waiting for a GPS fix…"
    report.add_fix(Fix(*grid_centre(GRID_A), 45.0, clock(), "gps"))
    assert "45 m" in (report.waiting_message() or "")
    assert "Accuracy about 45 m" in report.location_text()
    report.add_fix(fix_in(GRID_A, clock()))
    assert report.waiting_message() is None


def test_a_file_that_is_not_a_picture_is_refused_with_a_code(report: ReportState) -> None:
    with pytest.raises(GridsyncError) as caught:
        report.add_photo(b"%PDF-1.4 not a picture")
    assert caught.value.code == "photo.not_image"
    assert report.photos == []


def test_fixed_on_the_spot_needs_an_after_photo_and_keeps_both(
    report: ReportState, offline_device: Device, clock: Clock
) -> None:
    report.pick_category("5101")
    report.add_photo(jpeg(3))
    report.add_fix(fix_in(GRID_A, clock()))
    report.on_spot = True
    assert report.missing() == ["Fixed on the spot needs an after photo."]
    report.add_photo(jpeg(4), "after")
    case_id = report.save()
    case = offline_device.case(case_id)
    assert case is not None and case.case.on_spot
    assert case.case.photo_counts() == {"before": 1, "after": 1, "verification": 0}


def test_after_photos_are_dropped_when_the_report_is_not_on_the_spot(
    report: ReportState, offline_device: Device, clock: Clock, tmp_path: Path
) -> None:
    report.pick_category("0101")
    report.add_photo(jpeg(5))
    report.add_photo(jpeg(6), "after")
    report.add_fix(fix_in(GRID_A, clock()))
    case_id = report.save()
    assert offline_device.case(case_id).case.photo_counts()["after"] == 0  # type: ignore[union-attr]
