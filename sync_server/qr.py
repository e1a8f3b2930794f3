"""QR images for enrollment: an admin shows or prints the enrollment link, the phone scans it.

Only the writer lives here. The link's format (`gridsync://enroll?...`) and its parser belong in
`shared/`, because the phone must read what the server writes and may not import `sync_server`.

Settings are for a phone camera reading a code off a screen or a sheet of paper: error correction
level M (15% of the code may be smudged or glared), 8 pixels per module, and the 4-module quiet
zone the QR standard requires around the code. A black-and-white 1-bit PNG keeps the file small.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import qrcode
import qrcode.constants
import qrcode.exceptions
import qrcode.image.pil

BOX_PIXELS = 8
QUIET_ZONE_MODULES = 4


def qr_png_bytes(text: str) -> bytes:
    """`text` as a QR code in a PNG. Raises ValueError when the text is too long for any QR code
    (about 2,300 bytes at this error correction level; an enrollment link is under 200)."""
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=BOX_PIXELS,
        border=QUIET_ZONE_MODULES,
        image_factory=qrcode.image.pil.PilImage,
    )
    code.add_data(text.encode("utf-8"))
    try:
        code.make(fit=True)
    except (qrcode.exceptions.DataOverflowError, ValueError):  # qrcode 8 says "Invalid version (was 41…)"
        raise ValueError(f"text of {len(text.encode('utf-8'))} bytes is too long for a QR code") from None
    out = io.BytesIO()
    code.make_image().save(out)
    return out.getvalue()


def write_qr_png(text: str, path: Path) -> None:
    """Write the QR PNG of `text` to `path`, atomically: a reader never sees half an image."""
    data = qr_png_bytes(text)
    part = Path(path).with_name(Path(path).name + ".part")
    part.write_bytes(data)
    os.replace(part, path)
