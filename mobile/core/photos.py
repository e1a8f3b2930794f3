"""Photos made ready on the phone: checked, oriented, shrunk, stripped, hashed and stored.

A photo arrives as untrusted bytes (camera, file picker, another app). `prepare_photo` refuses what it
cannot safely handle with a stable error code, and otherwise returns a small JPEG and a thumbnail that
carry no metadata at all: the capture time and GPS position travel as plain values in the report,
never hidden inside the image. `PhotoStore` keeps the results, named by their SHA-256, in the app's
data folder.

Only JPEG (of a multi-picture MPO file, the primary picture), PNG and WebP are accepted.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final

from PIL import Image, ImageFile, JpegImagePlugin, features

from shared.errors import GridsyncError

MAX_INPUT_BYTES: Final = 40 * 1024 * 1024
MAX_PIXELS: Final = 64_000_000
THUMB_QUALITY: Final = 70

_EXIF_IFD: Final = 0x8769
_GPS_IFD: Final = 0x8825
_ORIENTATION: Final = 0x0112
_DATETIME_ORIGINAL: Final = 0x9003
_OFFSET_TIME_ORIGINAL: Final = 0x9011

# EXIF orientation -> the transposition that shows the picture upright (as ImageOps.exif_transpose).
_UPRIGHT: Final = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Start-of-frame markers (all JPEG coding processes); their segment holds the pixel size.
_JPEG_SOF: Final = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))
_EXIF_DATETIME: Final = re.compile(r"\s*(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_EXIF_OFFSET: Final = re.compile(r"\s*([+-])(\d{2}):(\d{2})")
_SHA256: Final = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class PreparedPhoto:
    """A photo ready to store and upload. `jpeg` and `thumb` carry no metadata; `width`, `height` are
    those of `jpeg` (upright); `taken_at` is epoch seconds; `gps` is (lat, lon) in decimal degrees;
    `source_format` is "JPEG", "PNG" or "WEBP"."""

    jpeg: bytes = field(repr=False)
    thumb: bytes = field(repr=False)
    sha256: str
    width: int
    height: int
    taken_at: int | None
    gps: tuple[float, float] | None
    source_format: str


def prepare_photo(
    data: bytes,
    *,
    max_side: int = 1600,
    quality: int = 80,
    thumb_side: int = 320,
    max_input_bytes: int = MAX_INPUT_BYTES,
    max_pixels: int = MAX_PIXELS,
    utc_offset_minutes: int = 480,
) -> PreparedPhoto:
    """Check, orient, shrink and strip one photo.

    Refusals: photo.too_large (more bytes than `max_input_bytes`), photo.not_image (not a JPEG, PNG
    or WebP), photo.bomb (more pixels than `max_pixels`, judged from the header before anything is
    decoded), photo.truncated (cut short or corrupt). `utc_offset_minutes` is the zone the camera's
    clock is assumed to be in when the photo does not record it (EXIF OffsetTimeOriginal).
    """
    if not (1 <= quality <= 95 and max_side >= 1 and thumb_side >= 1 and max_pixels >= 1):
        raise ValueError("quality must be 1..95 and the sizes positive")
    if not -14 * 60 <= utc_offset_minutes <= 14 * 60:
        raise ValueError("utc_offset_minutes must be within -14 h..+14 h")
    if len(data) > max_input_bytes:
        raise GridsyncError("photo.too_large", f"{len(data)} bytes > {max_input_bytes}")
    source_format, width, height = _declared_size(data)
    _refuse_bomb(width, height, max_pixels)
    if source_format == "WEBP" and not features.check_module("webp"):
        raise GridsyncError("photo.not_image", "this build of Pillow cannot read WebP")

    image = _decode(data, source_format, max_pixels, _fitted((width, height), max_side))
    exif = _exif_of(image)
    main = _upright(_fit(_flattened(image), max_side), _orientation(exif))
    thumb = _fit(main, thumb_side)
    jpeg = _encode(main, quality)
    return PreparedPhoto(
        jpeg=jpeg,
        thumb=_encode(thumb, min(quality, THUMB_QUALITY)),
        sha256=hashlib.sha256(jpeg).hexdigest(),
        width=main.width,
        height=main.height,
        taken_at=_taken_at(exif, utc_offset_minutes),
        gps=_gps(exif),
        source_format=source_format,
    )


# --- header checks, before any decoder runs -------------------------------------------------------


def _declared_size(data: bytes) -> tuple[str, int, int]:
    """The format and pixel size a file declares, read without Pillow.

    Read here so that a bomb is refused before a decoder allocates anything for it (Pillow's WebP
    plugin allocates its canvas while merely opening a file), and so that Pillow's own bomb check,
    which only warns below twice its limit, is never reached by an image it would warn about.
    """
    if data.startswith(b"\xff\xd8\xff"):
        return ("JPEG", *_jpeg_size(data))
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise GridsyncError("photo.truncated", "PNG header incomplete")
        return ("PNG", int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big"))
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ("WEBP", *_webp_size(data))
    raise GridsyncError("photo.not_image", "not a JPEG, PNG or WebP file")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """The largest frame a JPEG declares before its image data."""
    size = (0, 0)
    pos, end = 2, len(data)
    while pos + 4 <= end:
        marker = data[pos + 1]
        if data[pos] != 0xFF or marker in (0x00, 0xFF):  # junk, padding, fill: Pillow skips these too
            pos += 1
        elif marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a segment
            pos += 2
        elif marker in (0xD9, 0xDA):  # end of image, start of scan
            break
        else:
            if marker in _JPEG_SOF and pos + 9 <= end:
                frame = (_u16(data, pos + 7), _u16(data, pos + 5))
                size = max(size, frame, key=lambda wh: wh[0] * wh[1])
            pos += 2 + _u16(data, pos + 2)
    if size == (0, 0):
        raise GridsyncError("photo.truncated", "JPEG has no frame header")
    return size


def _u16(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos : pos + 2], "big")


def _webp_size(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    raise GridsyncError("photo.truncated", "WebP header incomplete")


def _refuse_bomb(width: int, height: int, max_pixels: int) -> None:
    # Never let Pillow's own check fire: it warns instead of refusing, and the limit is global.
    pillow_limit = Image.MAX_IMAGE_PIXELS
    limit = max_pixels if pillow_limit is None else min(max_pixels, pillow_limit)
    if width * height > limit:
        raise GridsyncError("photo.bomb", f"{width}x{height} pixels > {limit}")
    if width < 1 or height < 1:
        raise GridsyncError("photo.truncated", f"declared size {width}x{height}")


# --- decoding and pixels ------------------------------------------------------------------------


def _decode(data: bytes, source_format: str, max_pixels: int, target: tuple[int, int]) -> Image.Image:
    """Decode the first frame; a JPEG at the smallest DCT scale that still covers `target`."""
    try:
        if source_format == "JPEG":
            # Only the primary picture is wanted: opening the plugin directly skips Pillow's parse of
            # the multi-picture (MPO) index, and the warning it gives when that index is malformed.
            image: ImageFile.ImageFile = JpegImagePlugin.JpegImageFile(io.BytesIO(data))
            _refuse_bomb(image.width, image.height, max_pixels)
            image.draft("RGB", target)
        else:
            image = Image.open(io.BytesIO(data), formats=[source_format])
            _refuse_bomb(image.width, image.height, max_pixels)
        image.load()
    except GridsyncError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise GridsyncError("photo.bomb", str(exc)) from exc
    except Exception as exc:  # decoders raise many types on hostile input; every one means "corrupt"
        raise GridsyncError("photo.truncated", f"{type(exc).__name__}: {exc}") from exc
    return image


def _fitted(size: tuple[int, int], side: int) -> tuple[int, int]:
    width, height = size
    if max(width, height) <= side:
        return size
    if width >= height:
        return side, max(1, round(height * side / width))
    return max(1, round(width * side / height)), side


def _fit(image: Image.Image, side: int) -> Image.Image:
    size = _fitted(image.size, side)
    if size == image.size:
        return image
    # Pillow's filters widen their support when shrinking, so bilinear does not alias; reducing_gap
    # first box-averages by an integer factor, which is most of the speed.
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def _flattened(image: Image.Image) -> Image.Image:
    """RGB; transparent areas (screenshots, stickers) become white, not black."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def _upright(image: Image.Image, orientation: int) -> Image.Image:
    # Applied after shrinking: turning 2 megapixels is cheaper than turning 12.
    method = _UPRIGHT.get(orientation)
    return image if method is None else image.transpose(method)


def _encode(image: Image.Image, quality: int) -> bytes:
    image.info = {}  # Pillow copies some metadata (the JPEG comment) from `info` into what it saves
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, optimize=False, progressive=False)
    return out.getvalue()


# --- metadata read as values ----------------------------------------------------------------------


def _exif_of(image: Image.Image) -> Image.Exif | None:
    try:
        return image.getexif()
    except Exception:  # malformed EXIF costs the metadata, never the photo
        return None


def _ifd(exif: Image.Exif | None, tag: int) -> dict[int, Any]:
    if exif is None:
        return {}
    try:
        return dict(exif.get_ifd(tag))
    except Exception:
        return {}


def _orientation(exif: Image.Exif | None) -> int:
    value = exif.get(_ORIENTATION) if exif is not None else None
    return value if isinstance(value, int) else 1


def _taken_at(exif: Image.Exif | None, utc_offset_minutes: int) -> int | None:
    """DateTimeOriginal as epoch seconds. It is wall-clock time; its zone is OffsetTimeOriginal when the
    camera recorded one (EXIF 2.31), otherwise `utc_offset_minutes`."""
    ifd = _ifd(exif, _EXIF_IFD)
    stamp = ifd.get(_DATETIME_ORIGINAL)
    match = _EXIF_DATETIME.match(stamp) if isinstance(stamp, str) else None
    if match is None:
        return None
    offset = ifd.get(_OFFSET_TIME_ORIGINAL)
    zone = _EXIF_OFFSET.match(offset) if isinstance(offset, str) else None
    minutes = utc_offset_minutes
    if zone is not None and int(zone[2]) <= 14 and int(zone[3]) < 60:
        minutes = (int(zone[2]) * 60 + int(zone[3])) * (-1 if zone[1] == "-" else 1)
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    try:
        local = datetime(year, month, day, hour, minute, second)
    except ValueError:  # "0000:00:00 00:00:00" and friends
        return None
    return int(local.replace(tzinfo=timezone(timedelta(minutes=minutes))).timestamp())


def _gps(exif: Image.Exif | None) -> tuple[float, float] | None:
    """(lat, lon) from the GPS IFD, or None when absent, malformed, or the 0,0 some cameras write
    when they had no fix."""
    ifd = _ifd(exif, _GPS_IFD)
    lat = _degrees(ifd.get(2), ifd.get(1), "N", "S", 90.0)
    lon = _degrees(ifd.get(4), ifd.get(3), "E", "W", 180.0)
    if lat is None or lon is None or (lat == 0.0 and lon == 0.0):
        return None
    return lat, lon


def _degrees(value: Any, ref: Any, positive: str, negative: str, limit: float) -> float | None:
    parts: tuple[Any, ...] = value if isinstance(value, tuple) else (value,)
    if not 1 <= len(parts) <= 3 or not isinstance(ref, str):
        return None
    try:
        numbers = [float(part) for part in parts]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not all(math.isfinite(n) and n >= 0 for n in numbers):
        return None
    degrees = sum(n / 60.0**i for i, n in enumerate(numbers))
    sign = {positive: 1.0, negative: -1.0}.get(ref.strip("\x00 ").upper())
    if sign is None or degrees > limit:  # a missing hemisphere is a guess we refuse to make
        return None
    return round(sign * degrees, 7)


# --- storage --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredPhoto:
    sha256: str
    path: Path
    thumb_path: Path


class PhotoStore:
    """Photos named by the SHA-256 of their JPEG: `<root>/<first two hex digits>/<sha256>.jpg`, the
    thumbnail beside it as `<sha256>.thumb.jpg`.

    Every file appears whole or not at all (temporary file, fsync, rename), and a name is only ever
    written with the bytes that hash to it, so writing again is a no-op and a crash never leaves a
    half photo behind. `put` writes the thumbnail before the photo: `exists` implies the thumbnail
    exists too (except for blobs downloaded with `put_blob`, which come without one).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        return self.root / _checked(sha256)[:2] / f"{sha256}.jpg"

    def thumb_for(self, sha256: str) -> Path:
        return self.root / _checked(sha256)[:2] / f"{sha256}.thumb.jpg"

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def read(self, sha256: str) -> bytes:
        try:
            return self.path_for(sha256).read_bytes()
        except FileNotFoundError:
            raise GridsyncError("photo.unknown", sha256) from None

    def put(self, photo: PreparedPhoto) -> StoredPhoto:
        _verify(photo.sha256, photo.jpeg)
        stored = StoredPhoto(photo.sha256, self.path_for(photo.sha256), self.thumb_for(photo.sha256))
        _write_once(stored.thumb_path, photo.thumb)
        _write_once(stored.path, photo.jpeg)
        return stored

    def put_blob(self, sha256: str, data: bytes) -> Path:
        """Keep a photo downloaded from the server, after checking it is the one that was asked for."""
        path = self.path_for(sha256)
        _verify(sha256, data)
        _write_once(path, data)
        return path


def _checked(sha256: str) -> str:
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise GridsyncError("op.bad_field", "a photo id is 64 lowercase hex digits")
    return sha256


def _verify(sha256: str, data: bytes) -> None:
    if hashlib.sha256(data).hexdigest() != _checked(sha256):
        raise GridsyncError("photo.hash_mismatch", sha256)


def _write_once(path: Path, data: bytes) -> None:
    if path.is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable. POSIX only: Windows cannot open a folder for fsync."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
