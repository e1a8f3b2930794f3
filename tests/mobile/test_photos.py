from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import warnings
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from mobile.core import photos
from mobile.core.photos import PhotoStore, PreparedPhoto, StoredPhoto, prepare_photo
from shared.errors import GridsyncError
from tests.mobile.images import (
    bomb_png,
    camera_jpeg,
    jpeg_declaring,
    not_an_image,
    png_screenshot,
    truncated_jpeg,
)

CHINA = timezone(timedelta(hours=8))


def refusal(data: bytes, **options: int) -> str:
    with pytest.raises(GridsyncError) as caught:
        prepare_photo(data, **options)
    return caught.value.code


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def markers(jpeg: bytes) -> list[int]:
    """The segment markers of a JPEG up to its image data."""
    found, pos = [], 2
    while pos + 4 <= len(jpeg):
        found.append(jpeg[pos + 1])
        if jpeg[pos + 1] == 0xDA:
            break
        pos += 2 + int.from_bytes(jpeg[pos + 2 : pos + 4], "big")
    return found


def is_red(pixel: tuple[int, ...]) -> bool:
    red, green, blue = pixel[:3]
    return red > 200 and green < 60 and blue < 60


@pytest.fixture(scope="module")
def sideways() -> PreparedPhoto:
    """The 12-megapixel camera photo, stored 4000x3000 with EXIF orientation 6 (turn right to view)."""
    return prepare_photo(camera_jpeg())


# --- pixels ---------------------------------------------------------------------------------------


def test_sideways_camera_photo_comes_out_upright_and_tall(sideways: PreparedPhoto) -> None:
    assert (sideways.width, sideways.height) == (1200, 1600)
    upright = Image.open(io.BytesIO(sideways.jpeg)).convert("RGB")
    assert upright.size == (1200, 1600)
    # The red block stored top-left must now be top-right: turned clockwise, not mirrored.
    assert is_red(upright.getpixel((1150, 50)))
    assert not is_red(upright.getpixel((50, 50)))
    assert not is_red(upright.getpixel((1150, 1550)))


@pytest.mark.parametrize(
    ("size", "max_side", "expected"),
    [
        ((4000, 3000), 1600, (1600, 1200)),
        ((3000, 4000), 1600, (1200, 1600)),
        ((1601, 20), 1600, (1600, 20)),
        ((2000, 2000), 1000, (1000, 1000)),
        ((640, 480), 1600, (640, 480)),
    ],
)
def test_long_side_is_shrunk_to_max_side_and_never_enlarged(
    size: tuple[int, int], max_side: int, expected: tuple[int, int]
) -> None:
    source = camera_jpeg(*size, orientation=1, taken=None, gps=None)
    prepared = prepare_photo(source, max_side=max_side)
    assert (prepared.width, prepared.height) == expected
    assert Image.open(io.BytesIO(prepared.jpeg)).size == expected


def test_thumbnail_fits_within_thumb_side(sideways: PreparedPhoto) -> None:
    thumb = Image.open(io.BytesIO(sideways.thumb))
    assert thumb.format == "JPEG"
    assert thumb.size == (240, 320)
    assert max(Image.open(io.BytesIO(prepare_photo(camera_jpeg(), thumb_side=100).thumb)).size) == 100


def test_prepared_photo_and_thumbnail_carry_no_metadata(sideways: PreparedPhoto) -> None:
    for jpeg in (sideways.jpeg, sideways.thumb):
        found = markers(jpeg)
        assert 0xDA in found
        assert not [m for m in found if 0xE1 <= m <= 0xEF], "an APPn segment (EXIF, XMP, ICC) survived"
        assert 0xFE not in found, "the JPEG comment survived"
        image = Image.open(io.BytesIO(jpeg))
        assert not image.getexif()
        assert not {"exif", "xmp", "icc_profile", "comment"} & set(image.info)


def test_fingerprint_is_the_sha256_of_the_prepared_jpeg(sideways: PreparedPhoto) -> None:
    assert sideways.sha256 == hashlib.sha256(sideways.jpeg).hexdigest()
    assert sideways.source_format == "JPEG"


def test_preparing_the_same_bytes_twice_gives_the_same_photo() -> None:
    source = camera_jpeg(800, 600)
    assert prepare_photo(source) == prepare_photo(source)


def test_transparent_screenshot_is_accepted_and_flattened_onto_white() -> None:
    prepared = prepare_photo(png_screenshot(800, 600))
    assert prepared.source_format == "PNG"
    assert (prepared.width, prepared.height) == (800, 600)
    corner = Image.open(io.BytesIO(prepared.jpeg)).convert("RGB").getpixel((10, 10))
    assert min(corner) > 240


def webp(variant: bytes) -> bytes:
    """A 300x200 WebP whose first chunk is `variant`: VP8 (lossy), VP8L (lossless), VP8X (extended)."""
    exif = Image.Exif()
    exif[0x0112] = 1
    options = {b"VP8 ": {}, b"VP8L": {"lossless": True}, b"VP8X": {"exif": exif.tobytes()}}[variant]
    data = encoded(Image.new("RGB", (300, 200), "blue"), "WEBP", **options)
    assert data[12:16] == variant
    return data


@pytest.mark.parametrize("variant", [b"VP8 ", b"VP8L", b"VP8X"])
def test_webp_photos_are_accepted_in_every_header_variant(variant: bytes) -> None:
    prepared = prepare_photo(webp(variant))
    assert (prepared.source_format, prepared.width, prepared.height) == ("WEBP", 300, 200)


def test_multi_picture_jpeg_is_read_from_its_first_picture() -> None:
    first, second = Image.new("RGB", (400, 300), "green"), Image.new("RGB", (400, 300), "blue")
    prepared = prepare_photo(encoded(first, "MPO", save_all=True, append_images=[second]))
    assert prepared.source_format == "JPEG"
    _red, green, blue = Image.open(io.BytesIO(prepared.jpeg)).convert("RGB").getpixel((200, 150))
    assert green > 100 > blue


@pytest.mark.parametrize(
    "source",
    [
        encoded(Image.new("RGB", (300, 200), "red"), "JPEG", progressive=True),
        encoded(Image.new("L", (300, 200), 128), "JPEG"),
        encoded(Image.new("CMYK", (300, 200), (0, 255, 255, 0)), "JPEG"),
        encoded(Image.new("P", (300, 200), 3), "PNG", transparency=0),
        encoded(Image.new("I;16", (300, 200), 30_000), "PNG"),
        encoded(Image.new("1", (300, 200), 1), "PNG"),
    ],
    ids=["progressive-jpeg", "grey-jpeg", "cmyk-jpeg", "palette-png", "16-bit-png", "1-bit-png"],
)
def test_other_pixel_formats_come_out_as_rgb_jpeg(source: bytes) -> None:
    prepared = prepare_photo(source)
    output = Image.open(io.BytesIO(prepared.jpeg))
    assert (output.format, output.mode, output.size) == ("JPEG", "RGB", (300, 200))


# --- metadata returned as values ------------------------------------------------------------------


def test_capture_time_is_read_as_china_time_by_default(sideways: PreparedPhoto) -> None:
    assert sideways.taken_at == int(datetime(2024, 5, 6, 7, 8, 9, tzinfo=CHINA).timestamp())


def test_capture_time_is_read_in_the_given_utc_offset() -> None:
    prepared = prepare_photo(camera_jpeg(320, 240), utc_offset_minutes=0)
    assert prepared.taken_at == int(datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC).timestamp())


def test_offset_recorded_by_the_camera_wins_over_the_assumed_one() -> None:
    prepared = prepare_photo(camera_jpeg(320, 240, offset="-02:30"))
    local_zone = timezone(-timedelta(hours=2, minutes=30))
    assert prepared.taken_at == int(datetime(2024, 5, 6, 7, 8, 9, tzinfo=local_zone).timestamp())


@pytest.mark.parametrize("taken", [None, "0000:00:00 00:00:00", "    :  :     :  :  ", "2024:13:40 25:00:00"])
def test_missing_or_blank_capture_time_is_none(taken: str | None) -> None:
    assert prepare_photo(camera_jpeg(320, 240, taken=taken)).taken_at is None


def test_gps_position_is_read_in_decimal_degrees(sideways: PreparedPhoto) -> None:
    assert sideways.gps is not None
    lat, lon = sideways.gps
    assert lat == pytest.approx(22 + 46 / 60 + 30.5 / 3600, abs=1e-7)
    assert lon == pytest.approx(115 + 22 / 60 + 12 / 3600, abs=1e-7)


def test_southern_and_western_positions_are_negative() -> None:
    gps = ((33, 52, 4.0), "S", (151, 12, 36.0), "W")
    lat, lon = prepare_photo(camera_jpeg(320, 240, gps=gps)).gps or (0.0, 0.0)
    assert lat == pytest.approx(-(33 + 52 / 60 + 4 / 3600), abs=1e-7)
    assert lon == pytest.approx(-(151 + 12 / 60 + 36 / 3600), abs=1e-7)


@pytest.mark.parametrize(
    "gps",
    [
        None,
        ((0, 0, 0), "N", (0, 0, 0), "E"),  # what some cameras write when they had no fix
        ((22, 46, 30), "", (115, 22, 12), "E"),  # no hemisphere: a sign we will not guess
        ((95, 0, 0), "N", (115, 22, 12), "E"),  # beyond the pole
    ],
)
def test_missing_or_unusable_gps_is_none(gps: tuple[object, ...] | None) -> None:
    assert prepare_photo(camera_jpeg(320, 240, gps=gps)).gps is None  # type: ignore[arg-type]


# --- refusals -------------------------------------------------------------------------------------


def test_more_bytes_than_the_limit_are_refused_before_anything_else() -> None:
    assert refusal(camera_jpeg(320, 240), max_input_bytes=1000) == "photo.too_large"
    assert refusal(bytes(photos.MAX_INPUT_BYTES + 1)) == "photo.too_large"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        not_an_image(),
        b"GIF89a" + bytes(100),
        encoded(Image.new("RGB", (20, 20)), "BMP"),
        encoded(Image.new("RGB", (20, 20)), "TIFF"),
        b"<html><body>not a photo</body></html>",
    ],
    ids=["empty", "random", "gif", "bmp", "tiff", "html"],
)
def test_files_that_are_not_supported_photos_are_refused_as_not_images(data: bytes) -> None:
    assert refusal(data) == "photo.not_image"


def test_decompression_bomb_is_refused_from_its_header() -> None:
    bomb = bomb_png()
    assert len(bomb) < 1_000_000  # a small file...
    assert refusal(bomb) == "photo.bomb"  # ...that would decode to 900 megapixels


def test_bomb_is_refused_without_a_warning_even_when_the_caller_allows_more_than_pillow() -> None:
    assert Image.MAX_IMAGE_PIXELS is not None
    just_over_pillow = (10_000, Image.MAX_IMAGE_PIXELS // 10_000 + 1)  # Pillow only warns about these
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert refusal(bomb_png(*just_over_pillow), max_pixels=10**12) == "photo.bomb"
        assert refusal(bomb_png(), max_pixels=10**12) == "photo.bomb"
    assert [str(w.message) for w in seen] == []


def test_jpeg_declaring_too_many_pixels_is_refused_as_a_bomb() -> None:
    assert refusal(jpeg_declaring(20_000, 20_000)) == "photo.bomb"
    assert refusal(jpeg_declaring(8_001, 8_000)) == "photo.bomb"  # just over 64 megapixels


def test_webp_declaring_too_many_pixels_is_refused_before_pillow_allocates_it() -> None:
    data = bytearray(webp(b"VP8X"))
    data[24:30] = (16_000 - 1).to_bytes(3, "little") + (16_000 - 1).to_bytes(3, "little")
    assert refusal(bytes(data)) == "photo.bomb"


def test_max_pixels_is_the_callers_limit() -> None:
    assert refusal(png_screenshot(100, 100), max_pixels=9_999) == "photo.bomb"
    assert prepare_photo(png_screenshot(100, 100), max_pixels=10_000).width == 100


@pytest.mark.parametrize(
    "data",
    [
        truncated_jpeg(),
        camera_jpeg(320, 240)[:200],  # cut inside the EXIF, before any frame header
        png_screenshot(300, 200)[:-400],
        png_screenshot(300, 200)[:20],
        jpeg_declaring(0, 48),
        b"\xff\xd8\xff\x4f\x00\x04zz" + camera_jpeg(64, 48)[2:],  # a segment no JPEG defines
    ],
    ids=["jpeg-half", "jpeg-header-only", "png-cut", "png-header-only", "jpeg-zero-width", "jpeg-bad-marker"],
)
def test_truncated_or_corrupt_photos_are_refused_as_truncated(data: bytes) -> None:
    assert refusal(data) == "photo.truncated"


def test_preparing_photos_leaves_pillow_strict_about_truncated_files() -> None:
    refusal(truncated_jpeg())
    prepare_photo(camera_jpeg(320, 240))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


SMALL_SOURCES = [camera_jpeg(64, 48), png_screenshot(64, 48), encoded(Image.new("RGB", (64, 48)), "WEBP")]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    source=st.sampled_from(SMALL_SOURCES),
    edits=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=8),
    keep=st.floats(0.0, 1.0),
)
def test_damaged_photos_give_a_photo_or_a_photo_refusal_and_nothing_else(
    source: bytes, edits: list[tuple[int, int]], keep: float
) -> None:
    data = bytearray(source)
    for position, value in edits:
        data[position % len(data)] = value
    data = data[: max(1, round(len(data) * keep))]
    try:
        prepared = prepare_photo(bytes(data), max_pixels=4_000_000)
    except GridsyncError as refused:
        assert refused.code in {"photo.not_image", "photo.truncated", "photo.bomb"}
    else:
        assert max(prepared.width, prepared.height) <= 1600
        assert 0xE1 not in markers(prepared.jpeg)


# --- the store ------------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> PhotoStore:
    return PhotoStore(tmp_path / "photos")


@pytest.fixture(scope="module")
def small() -> PreparedPhoto:
    return prepare_photo(camera_jpeg(640, 480))


def leftovers(store: PhotoStore) -> list[Path]:
    return [path for path in store.root.rglob("*") if path.name.startswith(".")]


def test_stored_photo_is_found_by_its_fingerprint(store: PhotoStore, small: PreparedPhoto) -> None:
    stored = store.put(small)
    assert stored == StoredPhoto(small.sha256, store.path_for(small.sha256), store.thumb_for(small.sha256))
    assert store.exists(small.sha256)
    assert store.read(small.sha256) == small.jpeg
    assert stored.thumb_path.read_bytes() == small.thumb
    assert stored.path.parent.name == small.sha256[:2]
    assert leftovers(store) == []


def test_storing_the_same_photo_again_writes_nothing(store: PhotoStore, small: PreparedPhoto) -> None:
    first = store.put(small)
    os.utime(first.path, (1, 1))
    os.utime(first.thumb_path, (1, 1))
    assert store.put(small) == first
    assert first.path.stat().st_mtime == 1
    assert first.thumb_path.stat().st_mtime == 1


def test_a_write_that_fails_leaves_no_partial_photo(
    store: PhotoStore, small: PreparedPhoto, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(photos.os, "replace", disk_full)
    with pytest.raises(OSError):
        store.put(small)
    monkeypatch.undo()
    assert not store.exists(small.sha256)
    assert not store.thumb_for(small.sha256).exists()
    assert leftovers(store) == []
    store.put(small)
    assert store.read(small.sha256) == small.jpeg


def test_photo_whose_fingerprint_does_not_match_is_not_stored(
    store: PhotoStore, small: PreparedPhoto
) -> None:
    forged = dataclasses.replace(small, sha256=hashlib.sha256(b"something else").hexdigest())
    with pytest.raises(GridsyncError) as caught:
        store.put(forged)
    assert caught.value.code == "photo.hash_mismatch"
    assert not store.root.exists() or not any(store.root.rglob("*.jpg"))


def test_downloaded_blob_is_kept_only_when_it_matches_its_fingerprint(
    store: PhotoStore, small: PreparedPhoto
) -> None:
    with pytest.raises(GridsyncError) as caught:
        store.put_blob(small.sha256, small.jpeg[:-1])
    assert caught.value.code == "photo.hash_mismatch"
    assert not store.exists(small.sha256)
    assert store.put_blob(small.sha256, small.jpeg) == store.path_for(small.sha256)
    assert store.read(small.sha256) == small.jpeg
    assert store.put_blob(small.sha256, small.jpeg) == store.path_for(small.sha256)


def test_reading_a_photo_that_has_not_arrived_says_so(store: PhotoStore) -> None:
    with pytest.raises(GridsyncError) as caught:
        store.read("0" * 64)
    assert caught.value.code == "photo.unknown"
    assert not store.exists("0" * 64)


@pytest.mark.parametrize("sha", ["../../etc/passwd", "A" * 64, "0" * 63, "0" * 65, "g" * 64, ""])
def test_photo_ids_that_are_not_sha256_hex_are_refused(store: PhotoStore, sha: str) -> None:
    for use in (store.path_for, store.thumb_for, store.exists, store.read):
        with pytest.raises(GridsyncError) as caught:
            use(sha)
        assert caught.value.code == "op.bad_field"
