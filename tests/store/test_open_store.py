"""`open_store` chooses the store by a database URL: `--database-url`, `$GRIDSYNC_DATABASE_URL`,
`database_url` in config.json; the SQLite file in the data directory when none is given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sync_server.cli import main
from sync_server.store import DATABASE_FILE, DATABASE_URL_ENV, StoreURLError, database_url, open_store
from sync_server.store.sqlite import SqliteStore


def _path_of(store: object) -> Path:
    assert isinstance(store, SqliteStore)
    return Path(store.path)


def test_a_data_directory_without_a_url_is_the_sqlite_file_in_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    store = open_store(tmp_path)
    try:
        assert store.kind == "sqlite" and _path_of(store) == tmp_path / DATABASE_FILE
    finally:
        store.close()


def test_the_environment_url_beats_config_json_which_beats_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    (tmp_path / "config.json").write_text(json.dumps({"database_url": f"sqlite://{tmp_path}/from-config.db"}))
    assert database_url(tmp_path) == f"sqlite://{tmp_path}/from-config.db"
    store = open_store(tmp_path)
    try:
        assert _path_of(store) == tmp_path / "from-config.db"
    finally:
        store.close()
    monkeypatch.setenv(DATABASE_URL_ENV, f"sqlite://{tmp_path}/from-env.db")
    store = open_store(tmp_path)
    try:
        assert _path_of(store) == tmp_path / "from-env.db"
    finally:
        store.close()


def test_an_unknown_scheme_is_refused_naming_the_stores_this_server_has(tmp_path: Path) -> None:
    with pytest.raises(StoreURLError, match=r"no store for mysql:// \(this server has .*sqlite://"):
        open_store("mysql://db.example/gridsync")
    with pytest.raises(StoreURLError, match="names a local file"):
        open_store("sqlite://otherhost/x.db")
    assert not list(tmp_path.iterdir())


def test_the_database_url_flag_reaches_every_command_through_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(DATABASE_URL_ENV, "")  # `main` sets it: restored after the test
    monkeypatch.setenv("GRIDSYNC_PASSPHRASE", "correct horse battery staple")
    url = f"sqlite://{tmp_path}/elsewhere.db"
    assert main(["--database-url", url, "--data-dir", str(tmp_path / "d"), "init"]) == 0
    assert (tmp_path / "elsewhere.db").is_file()
    assert not (tmp_path / "d" / DATABASE_FILE).exists()
    assert (
        main(
            ["--database-url", "nosuch://x", "--data-dir", str(tmp_path / "d"), "export", str(tmp_path / "o")]
        )
        == 2
    )
    assert "no store for nosuch://" in capsys.readouterr().err
