"""Where photo blobs live: the `BlobStore` seam, and a directory (the default).

A blob is named by the sha256 of its bytes. It grows as a partial upload, chunk by chunk at the
offsets the database hands out (`Transaction.advance_photo`), and becomes a blob when `finish`
makes the partial the blob. Which upload may write, and at which offset, is decided in the database;
a blob store only keeps bytes, and holds no lock that matters between processes.

Several server processes on several machines share one blob store: for `DirectoryBlobs`, one
directory they all mount (NFS or similar; it must give an atomic rename within the directory and
make a write flushed with fsync visible to the other machines' next open, as NFS's close-to-open
consistency does). docs/server.md, "Running a city on PostgreSQL".
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Protocol


class BlobStore(Protocol):
    """Content-addressed blobs and their partial uploads. Guarantees every blob store gives
    (pinned by `tests/server/test_blobs.py`, parametrised over every blob store):

    - **Partial chunks are never a blob.** `write` only adds to the blob's partial upload; `read`
      and `whole_sha256` see a blob only after `finish`, never a partial one.
    - **Finish is atomic.** `finish` makes the partial the blob in one step: a reader finds the
      whole blob or none, also across machines and if the process dies in the middle. Finishing a
      blob another request finished already is not an error.
    - **Writers at the same offset at once.** `write` never truncates and never reads back: two
      requests (in any processes) writing the same chunk at the same offset at once both succeed
      and leave the same bytes, whoever wins the database's compare-and-set; bytes past what the
      database records (a write cut short) are written over by the next chunks.
    - **Durable.** When `write` or `finish` returns, what it wrote survives a crash of the machine.
    - A write that fails raises `OSError` (the caller answers storage full / unavailable) after
      cutting the partial back to `offset`, or dropping it if even that fails: the upload resumes
      from what the database records, or from 0.
    """

    def write(self, sha256: str, offset: int, chunk: bytes) -> None:
        """Write `chunk` at `offset` of the blob's partial upload (made if there is none)."""
        ...

    def partial_sha256(self, sha256: str) -> str | None:
        """The sha256 (hex) of the partial upload's bytes as they stand; None if there is none."""
        ...

    def whole_sha256(self, sha256: str) -> str | None:
        """The sha256 (hex) of the finished blob's bytes; None if it is not finished."""
        ...

    def finish(self, sha256: str) -> None:
        """Make the partial upload the blob, atomically (nothing to do if it was finished already)."""
        ...

    def drop_partial(self, sha256: str) -> None:
        """Forget the partial upload (a hash mismatch: the phone starts again at 0)."""
        ...

    def read(self, sha256: str) -> bytes:
        """The finished blob's bytes; `FileNotFoundError` if it is not finished."""
        ...


class DirectoryBlobs:
    """Blobs under `<folder>/ab/abcdef…`, partial uploads beside them as `…​.part`; files 0600.

    `write` is `pwrite` at the offset then `fsync`, on a file opened without truncation; `finish`
    is `rename(2)` of the `.part` over the blob's name, atomic within one directory."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, sha256: str, partial: bool = False) -> Path:
        return self.folder / sha256[:2] / (sha256 + (".part" if partial else ""))

    def write(self, sha256: str, offset: int, chunk: bytes) -> None:
        part = self.path(sha256, partial=True)
        try:
            part.parent.mkdir(parents=True, exist_ok=True)
            # No truncation at the chunk's end: a racing request may have written past it already.
            # Bytes past what is recorded (a write cut short) are written over by the next chunks.
            fd = os.open(part, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.pwrite(fd, chunk, offset)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            _keep_only(part, offset)
            raise

    def partial_sha256(self, sha256: str) -> str | None:
        return _sha256_of(self.path(sha256, partial=True))

    def whole_sha256(self, sha256: str) -> str | None:
        return _sha256_of(self.path(sha256))

    def finish(self, sha256: str) -> None:
        # gone: renamed by another request finishing the same blob (the caller saw its bytes)
        with contextlib.suppress(FileNotFoundError):
            self.path(sha256, partial=True).replace(self.path(sha256))

    def drop_partial(self, sha256: str) -> None:
        self.path(sha256, partial=True).unlink(missing_ok=True)

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()


def _sha256_of(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


def _keep_only(part: Path, offset: int) -> None:
    """Cut a partial upload back to what the server had acknowledged, so the next chunk resumes there;
    if even that fails, drop it (the client asks for the offset and starts again from what is recorded)."""
    try:
        if part.exists():
            os.truncate(part, offset)
    except OSError:
        part.unlink(missing_ok=True)
