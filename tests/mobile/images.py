"""Test images made in memory with Pillow: camera photos with EXIF, screenshots, and hostile files.

The camera photo has a red block in the top-left corner of its *stored* pixels, so a test can tell
which way it was turned, and a JPEG comment, so a test can tell that nothing was carried over.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from functools import lru_cache

from PIL import Image
from PIL.TiffImagePlugin import IFDRational

RED = (255, 0, 0)
SHANWEI_DMS = ((22, 46, 30.5), "N", (115, 22, 12), "E")  # 22.775139 N, 115.37 E
DMS = tuple[tuple[float, float, float], str, tuple[float, float, float], str]


@lru_cache(maxsize=8)
def camera_jpeg(
    width: int = 4000,
    height: int = 3000,
    *,
    orientation: int = 6,
    taken: str | None = "2024:05:06 07:08:09",
    offset: str | None = None,
    gps: DMS | None = SHANWEI_DMS,
    quality: int = 90,
) -> bytes:
    """A phone-camera JPEG: photo-like pixels, EXIF orientation, DateTimeOriginal and a GPS IFD."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif_ifd: dict[int, str] = {}
    if taken is not None:
        exif_ifd[0x9003] = taken
    if offset is not None:
        exif_ifd[0x9011] = offset
    if exif_ifd:
        exif[0x8769] = exif_ifd
    if gps is not None:
        lat, lat_ref, lon, lon_ref = gps
        exif[0x8825] = {1: lat_ref, 2: _rationals(lat), 3: lon_ref, 4: _rationals(lon)}
    out = io.BytesIO()
    _scene(width, height).save(
        out, "JPEG", quality=quality, exif=exif, comment=b"shot on a test phone", dpi=(72, 72)
    )
    return out.getvalue()


def png_screenshot(width: int = 800, height: int = 600) -> bytes:
    """An RGBA PNG, fully transparent in its top-left corner."""
    image = _scene(width, height).convert("RGBA")
    image.paste((0, 0, 0, 0), (0, 0, width // 4, height // 4))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def truncated_jpeg() -> bytes:
    """A valid 1200x900 JPEG cut in half."""
    whole = camera_jpeg(1200, 900)
    return whole[: len(whole) // 2]


@lru_cache(maxsize=2)
def bomb_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A valid one-colour 1-bit PNG declaring width x height: a few hundred KB that decode to ~1 GB."""
    row = b"\x00" + b"\x00" * ((width + 7) // 8)  # filter "none", all pixels black
    packer = zlib.compressobj(9)
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header is rewritten to claim width x height."""
    data = bytearray(camera_jpeg(64, 48, orientation=1, taken=None, gps=None))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def not_an_image(size: int = 4096, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


def _scene(width: int, height: int) -> Image.Image:
    """Noise over gradients (roughly as hard to compress as a real photo) with a red top-left block."""
    noise = Image.effect_noise((width, height), 40)
    gradient = Image.linear_gradient("L").resize((width, height))
    image = Image.merge(
        "RGB",
        (
            Image.blend(gradient, noise, 0.5),
            Image.blend(gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT), noise, 0.3),
            gradient.transpose(Image.Transpose.ROTATE_90).resize((width, height)),
        ),
    )
    image.paste(RED, (0, 0, width // 5, height // 5))
    return image


def _rationals(dms: tuple[float, float, float]) -> tuple[IFDRational, ...]:
    return tuple(IFDRational(round(part * 100), 100) for part in dms)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
