"""The true boundaries of the phone — GPS and camera — as small interfaces the views implement.

The report screen asks a `PositionSource` for a fix and a `PhotoSource` for pictures; on a phone they
wrap flet_geolocator and the camera or file picker, in tests they are fakes. Keeping them this small
is what lets the state classes be tested without a device.
"""

from __future__ import annotations

from typing import Protocol

from mobile.core.location import Fix

#: why there is no position; each has words that say what to do (`report.gps.<kind>`)
LOCATION_PROBLEMS = ("denied", "off", "timeout", "failed")


class LocationUnavailable(Exception):
    """No position. `kind` is one of LOCATION_PROBLEMS (the screen says it in the person's language);
    `reason` keeps what the platform said, for logs only: it is never shown."""

    def __init__(self, reason: str, kind: str = "failed") -> None:
        self.reason = reason
        self.kind = kind if kind in LOCATION_PROBLEMS else "failed"
        super().__init__(reason)

    @classmethod
    def from_platform(cls, message: str) -> LocationUnavailable:
        """A platform's error text (English, whatever the phone's language) sorted into a kind:
        browsers say "User denied Geolocation", Android and iOS "permission denied" or
        "Location services are disabled"."""
        lowered = message.lower()
        if "denied" in lowered or "permission" in lowered or "not allowed" in lowered:
            return cls(message, "denied")
        if "disabled" in lowered or "service" in lowered or "turned off" in lowered:
            return cls(message, "off")
        if "timeout" in lowered or "timed out" in lowered:
            return cls(message, "timeout")
        return cls(message, "failed")


class PositionSource(Protocol):
    async def current(self, timeout_s: float) -> Fix:
        """One fix, or LocationUnavailable within about `timeout_s` seconds."""
        ...


class PhotoSource(Protocol):
    async def pick(self) -> list[bytes]:
        """Pictures the person took or chose (empty if they cancelled)."""
        ...
