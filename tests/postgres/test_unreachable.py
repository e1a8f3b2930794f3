"""With no PostgreSQL to reach, the postgres tests fail, saying so — they never skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]


def test_an_unreachable_postgresql_fails_the_tests_with_a_plain_message(tmp_path: Path) -> None:
    env = {**os.environ, "GRIDSYNC_TEST_PG": "postgresql://postgres@127.0.0.1:1/test"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
         "tests/postgres/test_same_night.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "PostgreSQL is not reachable at postgresql://postgres@127.0.0.1:1/test" in done.stdout
    assert "skipped" not in done.stdout and "1 error" in done.stdout, done.stdout


def test_a_server_command_on_an_unreachable_database_says_so_plainly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sync_server.cli import main
    from sync_server.store import DATABASE_URL_ENV

    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    url = "postgresql://postgres@127.0.0.1:1/nowhere"
    assert main(["--database-url", url, "--data-dir", str(tmp_path), "report"]) == 2
    err = capsys.readouterr().err
    assert "cannot open the PostgreSQL store" in err and "port 1" in err and "Traceback" not in err
    os.environ.pop(DATABASE_URL_ENV, None)  # main passed --database-url on through the environment
