"""Who may read the data directory: its owner, the server's OS account, and nobody else.

`gridsync.db` holds every per-photo key, `keys/` the server's private keys (encrypted, but a copy
invites an offline guess at the passphrase), `photos/` and `spool/` the sealed blobs. Under the
usual umask 022 they came out 0755/0644: any local user could copy them.

Every `gridsync-server` command runs under umask 077 (`private_files()`), so whatever the
operator's umask, each folder the server makes is 0700 and each file 0600 — the database, its WAL
and shared-memory files (SQLite gives them the database's own mode), keys, config, photos, spool
files, backups, and the files a command writes for the operator (reports, exports, QR codes).
Worker processes inherit the umask. `init` also makes an existing data folder 0700, and the store
creates its database file 0600 itself, so a store opened outside the CLI is private too.

`serve` does not change modes it finds (an operator may have reasons); it warns
(`too_open`) about the data folder, anything directly in it and the keys, if others can reach them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PRIVATE_UMASK = 0o077
FOLDER_MODE = 0o700
FILE_MODE = 0o600


@contextmanager
def private_files() -> Iterator[None]:
    """Inside, this process (and every process it starts) creates folders 0700 and files 0600."""
    previous = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def make_private_folder(path: Path) -> None:
    """Create `path` (and its missing parents) if needed, and make it 0700 even if it existed."""
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    os.chmod(path, FOLDER_MODE)


def create_private_file(path: Path) -> None:
    """Create an empty file 0600 if there is none (an existing file is left as it is)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def too_open(data_dir: Path) -> list[tuple[Path, int]]:
    """The data folder, the entries directly in it and those in `keys/`, that users other than the
    owner may read, write or enter (any group or other bit), with their modes. Bounded: the
    photos and the spool are not walked (a private data folder already shuts them off)."""
    candidates = [data_dir]
    for folder in (data_dir, data_dir / "keys"):
        try:
            candidates += sorted(folder.iterdir())
        except OSError:
            continue
    found = []
    for path in candidates:
        try:
            mode = stat.S_IMODE(path.lstat().st_mode)
        except OSError:
            continue
        if mode & 0o077 and not path.is_symlink():
            found.append((path, mode))
    return found


def warnings(data_dir: Path) -> list[str]:
    """One line per entry `too_open` finds, saying what to run."""
    lines = []
    for path, mode in too_open(data_dir):
        wanted = FOLDER_MODE if path.is_dir() else FILE_MODE
        lines.append(
            f"warning: {path} is {mode:04o}: other users of this machine can reach it "
            f"(it should be {wanted:04o}: chmod {wanted:o} {path})"
        )
    return lines
