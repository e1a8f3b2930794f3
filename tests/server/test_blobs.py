"""The blob store contract (`sync_server.blobs.BlobStore`), on every blob store: partial chunks are
never a blob, finishing is atomic and may happen twice, writers at the same offset at once leave the
same bytes, and a blob is read only once finished. `BLOB_STORES` maps a name to a factory given a
fresh folder; a new blob store runs all of it by adding one entry."""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from sync_server.blobs import BlobStore, DirectoryBlobs

BLOB_STORES: dict[str, Callable[[Path], BlobStore]] = {"directory": DirectoryBlobs}
BLOB = os.urandom(300_000)
SHA = hashlib.sha256(BLOB).hexdigest()
CHUNK = 64 * 1024


@pytest.fixture(params=sorted(BLOB_STORES))
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return BLOB_STORES[request.param](tmp_path / "photos")


def _chunks(blob: bytes) -> list[tuple[int, bytes]]:
    return [(at, blob[at : at + CHUNK]) for at in range(0, len(blob), CHUNK)]


def test_partial_chunks_are_never_a_blob_until_finished(blobs: BlobStore) -> None:
    assert blobs.partial_sha256(SHA) is None and blobs.whole_sha256(SHA) is None
    for at, chunk in _chunks(BLOB):
        blobs.write(SHA, at, chunk)
        assert blobs.whole_sha256(SHA) is None
        with pytest.raises(FileNotFoundError):
            blobs.read(SHA)
    assert blobs.partial_sha256(SHA) == SHA
    blobs.finish(SHA)
    assert blobs.read(SHA) == BLOB and blobs.whole_sha256(SHA) == SHA
    assert blobs.partial_sha256(SHA) is None  # the partial became the blob


def test_finishing_a_blob_finished_already_is_not_an_error(blobs: BlobStore) -> None:
    blobs.write(SHA, 0, BLOB)
    blobs.finish(SHA)
    blobs.finish(SHA)
    assert blobs.read(SHA) == BLOB


def test_a_chunk_written_again_over_bytes_past_it_keeps_them(blobs: BlobStore) -> None:
    """No truncation: a racing request may have written the next chunk already."""
    blobs.write(SHA, 0, BLOB[:CHUNK])
    blobs.write(SHA, CHUNK, BLOB[CHUNK:])
    blobs.write(SHA, 0, BLOB[:CHUNK])  # the first chunk again (a retry that lost its race)
    assert blobs.partial_sha256(SHA) == SHA


def test_a_dropped_partial_is_gone_and_the_upload_starts_again(blobs: BlobStore) -> None:
    blobs.write(SHA, 0, b"not the blob")
    blobs.drop_partial(SHA)
    assert blobs.partial_sha256(SHA) is None
    blobs.write(SHA, 0, BLOB)
    assert blobs.partial_sha256(SHA) == SHA


def test_writers_at_the_same_offsets_at_once_leave_the_same_bytes(blobs: BlobStore) -> None:
    """Two requests (a retry and its original) write every chunk at once, 20 rounds."""
    for round_ in range(20):
        blob = os.urandom(200_000 + round_)
        sha = hashlib.sha256(blob).hexdigest()
        barrier = threading.Barrier(2)

        def upload(blob: bytes = blob, sha: str = sha, barrier: threading.Barrier = barrier) -> None:
            for at, chunk in _chunks(blob):
                barrier.wait(30)
                blobs.write(sha, at, chunk)

        threads = [threading.Thread(target=upload) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert blobs.partial_sha256(sha) == sha
        blobs.finish(sha)
        assert blobs.read(sha) == blob


def _finish_in_a_process(folder: Path, sha: str) -> None:
    DirectoryBlobs(folder).finish(sha)


def test_a_reader_finds_the_whole_blob_or_none_while_another_process_finishes_it(tmp_path: Path) -> None:
    """Directory blobs shared by processes (machines): finishing is one rename, never a copy, so a
    reader polling meanwhile never reads part of a blob."""
    folder = tmp_path / "photos"
    blobs = DirectoryBlobs(folder)
    for round_ in range(10):
        blob = os.urandom(2_000_000 + round_)
        sha = hashlib.sha256(blob).hexdigest()
        blobs.write(sha, 0, blob)
        finisher = multiprocessing.get_context("spawn").Process(
            target=_finish_in_a_process, args=(folder, sha)
        )
        finisher.start()
        reads = 0
        while finisher.is_alive():
            with contextlib.suppress(FileNotFoundError):  # not finished yet
                assert blobs.read(sha) == blob
            reads += 1
        finisher.join(60)
        assert finisher.exitcode == 0 and blobs.read(sha) == blob and reads > 0
