"""Where the device keeps its private keys.

The core asks a `SecretStore`; the app decides which one. On a phone that is the platform's secure
storage (Keychain, Android Keystore) through Flet's SecureStorage, which is async: the app preloads a
`MemorySecretStore` from it at start and flushes `changes()` back after writes. On a desktop and in
tests it is a `FileSecretStore`: a private folder with one file per secret.

Values are bytes; where a store can only hold text they are written as base64 (`encode_value`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import stat
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

# A secret's name is also its file name: no separators, and no leading dot (that is how temporary
# files are told apart, and it keeps out "." and "..").
_NAME: Final = re.compile(r"[a-z0-9_-][a-z0-9_.-]{0,127}")
_FOLDER_MODE: Final = 0o700
_FILE_MODE: Final = 0o600
_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_BINARY: Final = getattr(os, "O_BINARY", 0)


@runtime_checkable
class SecretStore(Protocol):
    """Named secrets. `get` of an unknown name is None; `delete` of one does nothing."""

    def get(self, name: str) -> bytes | None: ...

    def put(self, name: str, value: bytes) -> None: ...

    def delete(self, name: str) -> None: ...


def encode_value(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def decode_value(text: str | bytes) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError("a stored secret is not valid base64") from exc


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"bad secret name {name!r}: use a-z 0-9 _ . - (not starting with '.')")
    return name


class FileSecretStore:
    """One file per secret in `folder` (mode 0700), each file 0600 from the moment it exists.

    Writes are atomic: a temporary file created with O_EXCL and mode 0600, fsync, rename, fsync of the
    folder. A secret is therefore either the old value or the new one, never half of either, and never
    readable by another user, even for an instant.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(self.folder, _FOLDER_MODE)
        if stat.S_IMODE(os.stat(self.folder).st_mode) != _FOLDER_MODE and os.name == "posix":
            os.chmod(self.folder, _FOLDER_MODE)  # an existing folder, or a umask that took owner bits

    def get(self, name: str) -> bytes | None:
        try:
            fd = os.open(self.folder / check_name(name), os.O_RDONLY | _NOFOLLOW | _BINARY)
        except FileNotFoundError:
            return None
        with open(fd, "rb") as file:
            return decode_value(file.read().strip())

    def put(self, name: str, value: bytes) -> None:
        path = self.folder / check_name(name)
        temporary = self.folder / f".{name}.{os.urandom(6).hex()}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY
        fd = os.open(temporary, flags, _FILE_MODE)
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, _FILE_MODE)  # the umask can only have removed bits; make it exactly 0600
            with open(fd, "wb") as file:
                file.write(encode_value(bytes(value)).encode("ascii"))
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        self._fsync_folder()

    def delete(self, name: str) -> None:
        try:
            os.unlink(self.folder / check_name(name))
        except FileNotFoundError:
            return
        self._fsync_folder()

    def _fsync_folder(self) -> None:
        if os.name != "posix":  # Windows cannot open a folder for fsync
            return
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class MemorySecretStore:
    """Secrets in memory, with a record of what changed since the last flush.

    The app's cache in front of Flet's async SecureStorage: it builds this from the values it read at
    start, lets the synchronous core use it, then writes `changes()` through and calls
    `mark_flushed` with what it wrote. A secret changed again while a flush was in flight stays in
    `changes()` for the next one.
    """

    def __init__(self, preloaded: Mapping[str, bytes] | None = None) -> None:
        self._lock = threading.Lock()
        self._values = {check_name(name): bytes(value) for name, value in (preloaded or {}).items()}
        self._changed: dict[str, bytes | None] = {}

    def get(self, name: str) -> bytes | None:
        with self._lock:
            return self._values.get(check_name(name))

    def put(self, name: str, value: bytes) -> None:
        with self._lock:
            self._values[check_name(name)] = self._changed[name] = bytes(value)

    def delete(self, name: str) -> None:
        # Recorded even when unknown here: the backing store may hold a value that was never preloaded.
        with self._lock:
            self._values.pop(check_name(name), None)
            self._changed[name] = None

    def changes(self) -> dict[str, bytes | None]:
        """Writes not yet flushed: name -> new value, or None for a deletion."""
        with self._lock:
            return dict(self._changed)

    def mark_flushed(self, flushed: Mapping[str, bytes | None]) -> None:
        with self._lock:
            for name, value in flushed.items():
                if name in self._changed and self._changed[name] == value:
                    del self._changed[name]
