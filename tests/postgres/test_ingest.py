"""The overnight `ingest` on PostgreSQL: a spool of sealed segments applied in groups (one transaction
with a savepoint per segment) gives the cases a SQLite store gives (up to times taken from the clock
and case numbers)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import fleet
from shared import crypto
from sync_server.store import open_store
from tests.faults.processes import ROOT, env
from tests.postgres.checks import canonical_cases, problems
from tests.postgres.night import twin_data_dir

pytestmark = pytest.mark.postgres

DEVICES, SEGMENTS, OPS = 5, 8, 20


def _ingest(data_dir: Path, spool: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sync_server.cli", "--data-dir", str(data_dir), "ingest", str(spool), "--quiet"],
        env={k: v for k, v in env().items() if k != "GRIDSYNC_DATABASE_URL"}, cwd=ROOT, capture_output=True,
        text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_overnight_ingest_on_postgresql_gives_what_it_gives_on_sqlite(
    tmp_path: Path, pg_url: str
) -> None:
    city, members = fleet.fleet(DEVICES, seed=21, grid_count=8)
    keys = fleet.build_server(tmp_path / "sqlite", city, members)
    twin_data_dir(tmp_path / "sqlite", tmp_path / "pg", city, members, database_url=pg_url)
    public = crypto.public_raw(keys.encryption)
    for name in ("sqlite", "pg"):
        (tmp_path / name / "spool").mkdir()
    for m in members:
        writer = fleet.Writer(m, public, seed=21)
        for _ in range(SEGMENTS):
            blob = writer.seal(writer.ops(OPS))
            first_seq = int.from_bytes(blob[38:46], "big")
            for name in ("sqlite", "pg"):
                (tmp_path / name / "spool" / f"{m.device_id}-{first_seq:012d}.seg").write_bytes(blob)
    for name in ("sqlite", "pg"):
        _ingest(tmp_path / name, tmp_path / name / "spool")
    sqlite, pg = open_store(tmp_path / "sqlite"), open_store(tmp_path / "pg")
    try:
        assert pg.kind == "postgresql"
        assert problems(pg, {m.device_id: SEGMENTS * OPS for m in members}) == []
        assert canonical_cases(pg) == canonical_cases(sqlite)
    finally:
        sqlite.close()
        pg.close()
