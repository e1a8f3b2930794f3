"""What the public Open311 feed may say about a case: safe by default, configurable per city.

A grid worker's report is written for the city centre, not for the public: its free text can hold a
resident's name, phone number or home address, and the phone's GPS fix is precise to a doorway. The
feed therefore publishes, by default (`PublicPolicy`, set per city in `config.json`, see
docs/server.md):

- coordinates rounded to `coordinate_decimals` decimal places (4: about 11 m north-south, 10 m
  east-west at the latitude of southern China);
- the description and the address only once the centre has filed the case (it was read by a
  person), never while it is only reported, nor for a rejected, voided or duplicate case; phone
  numbers, ID-card numbers, e-mail addresses, plate numbers and other long digit runs masked;
- instead, the public text a supervisor wrote for the case (`gridsync-server admin public-text`),
  published as written: a person chose it;
- no photo (`media_url` is null) unless the city chose stages to publish (`photo_stages`, e.g.
  `after`): then the latest such photo of a *closed* case, re-encoded without its metadata (no EXIF
  GPS, camera or time) by `public_jpeg`; a before-photo only if a city lists `before` itself;
- never a worker's name or id, a device id, a handler: `sync_server.open311.request_from_case` has
  no field that could carry them (tests/server/test_open311_privacy.py keeps it so).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.model import Case, Photo, Status

MASK = "***"

#: The states in which a person at the centre has read the report (filed it) and it stands.
FILED = frozenset(
    {
        Status.DISPATCHED,
        Status.HANDLING,
        Status.RETURNED,
        Status.REPORTED_BACK,
        Status.VERIFIED,
        Status.CLOSED,
    }
)

# Longest first: an ID-card number holds a run that looks like a phone number.
_PATTERNS = (
    re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),  # e-mail
    re.compile(r"(?<![0-9])[1-9][0-9]{16}[0-9Xx](?![0-9])"),  # 18-digit resident ID card
    re.compile(r"(?<![0-9])(?:\+?86[ -]?)?1[3-9][0-9](?:[ -]?[0-9]{4}){2}(?![0-9])"),  # mobile
    re.compile(r"(?<![0-9])0[0-9]{2,3}[ -]?[0-9]{7,8}(?![0-9])"),  # landline with area code
    re.compile(r"[\u4e00-\u9fff][A-Z][ ·]?[A-Z0-9]{5,6}(?![A-Za-z0-9])"),  # vehicle plate (粤A12345)
    re.compile(r"[0-9][0-9 -]{5,}[0-9]"),  # any other run of 7+ digits: a number of some kind
)


def mask_personal(text: str) -> str:
    """`text` with phone numbers, ID-card numbers, e-mail addresses, plates and long digit runs
    replaced by `MASK`. Names cannot be found by a pattern: that is why a description waits until a
    person has filed the case, and why a supervisor can replace the public text."""
    for pattern in _PATTERNS:
        text = pattern.sub(MASK, text)
    return text


@dataclass(frozen=True, slots=True)
class PublicPolicy:
    """A city's choices for its public feed; the defaults are the safe ones."""

    coordinate_decimals: int = 4
    descriptions: bool = True  # False: never publish a description or an address
    photo_stages: frozenset[str] = frozenset()  # e.g. {"after"}: those photos of closed cases

    def coordinates(self, lat: float, lon: float) -> tuple[float, float]:
        return round(lat, self.coordinate_decimals), round(lon, self.coordinate_decimals)

    def public_text(self, case: Case, edited: str | None) -> tuple[str | None, str | None]:
        """The description and address the feed may show for `case`; `edited`, the supervisor's
        public text if there is one, stands for the description whatever the case's state."""
        if not self.descriptions:
            return edited, None
        if Status(case.status) not in FILED:
            return edited, None
        description = edited if edited is not None else mask_personal(case.description)
        return description, (mask_personal(case.address) or None)

    def public_photo(self, case: Case) -> Photo | None:
        """The photo the feed may link for `case`: the latest of a published stage, closed cases only."""
        if not self.photo_stages or Status(case.status) is not Status.CLOSED:
            return None
        chosen = [p for p in case.photos if p.stage in self.photo_stages]
        return max(chosen, key=lambda p: (p.captured_at, p.photo_id), default=None)


SAFE_DEFAULTS = PublicPolicy()
MAX_PUBLIC_PIXELS = 40_000_000


def public_jpeg(plain: bytes) -> bytes:
    """A photo as the public may get it: decoded, turned upright, and encoded again as a JPEG with
    no metadata at all (EXIF holds the phone's GPS fix, its model, the time). Refuses what is not
    an image or is larger than `MAX_PUBLIC_PIXELS` (`photo.not_image`, `photo.too_large`)."""
    from io import BytesIO

    from PIL import Image, ImageOps, UnidentifiedImageError

    from shared.errors import GridsyncError

    try:
        with Image.open(BytesIO(plain)) as image:
            if image.width * image.height > MAX_PUBLIC_PIXELS:
                raise GridsyncError("photo.too_large", f"{image.width}x{image.height}")
            upright = ImageOps.exif_transpose(image).convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise GridsyncError("photo.not_image", str(exc)[:200]) from None
    clean = Image.new("RGB", upright.size)
    clean.paste(upright)
    out = BytesIO()
    clean.save(out, "JPEG", quality=85)
    return out.getvalue()
