"""The true boundaries of the phone — GPS and camera — as small interfaces the views implement.

The report screen asks a `PositionSource` for a fix and a `PhotoSource` for pictures; on a phone they
wrap flet_geolocator and the camera or file picker, in tests they are fakes. Keeping them this small
is what lets the state classes be tested without a device.
"""

from __future__ import annotations

from typing import Protocol

from mobile.core.location import Fix


class LocationUnavailable(Exception):
    """No position: no permission, location off, or no fix before the timeout. `reason` is words."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class PositionSource(Protocol):
    async def current(self, timeout_s: float) -> Fix:
        """One fix, or LocationUnavailable within about `timeout_s` seconds."""
        ...


class PhotoSource(Protocol):
    async def pick(self) -> list[bytes]:
        """Pictures the person took or chose (empty if they cancelled)."""
        ...
