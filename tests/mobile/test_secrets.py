from __future__ import annotations

import base64
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobile.core import secrets
from mobile.core.secrets import FileSecretStore, MemorySecretStore, SecretStore

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
NAMES = st.from_regex(r"[a-z0-9_-][a-z0-9_.-]{0,40}", fullmatch=True)
BAD_NAMES = ["", ".", "..", "../key", "a/b", "a\\b", "Key", "key\n", ".hidden", "密钥", "x" * 129, "a b"]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o000, 0o277], ids=["umask-000", "umask-277"])
def odd_umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """The most permissive umask, and one that takes the owner's own bits: the store must not care."""
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> SecretStore:
    if request.param == "file":
        return FileSecretStore(tmp_path / "keys")
    return MemorySecretStore()


# --- both stores ----------------------------------------------------------------------------------


def test_both_stores_are_secret_stores(tmp_path: Path) -> None:
    assert isinstance(FileSecretStore(tmp_path / "keys"), SecretStore)
    assert isinstance(MemorySecretStore(), SecretStore)


def test_secret_round_trips_and_can_be_replaced_and_deleted(store: SecretStore) -> None:
    every_byte = bytes(range(256))
    assert store.get("device_signing_key") is None
    store.put("device_signing_key", every_byte)
    assert store.get("device_signing_key") == every_byte
    store.put("device_signing_key", b"")
    assert store.get("device_signing_key") == b""
    store.delete("device_signing_key")
    assert store.get("device_signing_key") is None
    store.delete("device_signing_key")  # deleting what is not there is fine


def test_secrets_are_kept_apart_by_name(store: SecretStore) -> None:
    store.put("signing.v1", b"sign")
    store.put("encryption.v1", b"encrypt")
    assert (store.get("signing.v1"), store.get("encryption.v1")) == (b"sign", b"encrypt")


@pytest.mark.parametrize("name", BAD_NAMES)
def test_names_that_are_not_plain_file_names_are_refused(store: SecretStore, name: str) -> None:
    for use in (store.get, store.delete, lambda n: store.put(n, b"v")):
        with pytest.raises(ValueError):
            use(name)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NAMES, value=st.binary(max_size=300))
def test_any_valid_name_and_value_round_trip_through_files(tmp_path: Path, name: str, value: bytes) -> None:
    store = FileSecretStore(tmp_path / "keys")
    store.put(name, value)
    assert store.get(name) == value
    assert FileSecretStore(tmp_path / "keys").get(name) == value


# --- the file store -------------------------------------------------------------------------------


@posix_only
def test_secret_folder_is_0700_and_secret_files_0600_whatever_the_umask(
    tmp_path: Path, odd_umask: int
) -> None:
    store = FileSecretStore(tmp_path / "app" / "keys")
    store.put("device_signing_key", b"k")
    assert mode(tmp_path / "app" / "keys") == 0o700
    assert mode(tmp_path / "app" / "keys" / "device_signing_key") == 0o600


@posix_only
def test_secret_folder_and_files_are_private_from_the_moment_they_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open, real_mkdir, created = os.open, os.mkdir, []

    def watching_open(path: str | os.PathLike[str], flags: int, *args: int, **kwargs: int) -> int:
        fd = real_open(path, flags, *args, **kwargs)
        if flags & os.O_CREAT:
            created.append(("file", stat.S_IMODE(os.fstat(fd).st_mode), bool(flags & os.O_EXCL)))
        return fd

    def watching_mkdir(path: str | os.PathLike[str], *args: int, **kwargs: int) -> None:
        real_mkdir(path, *args, **kwargs)
        created.append(("folder", stat.S_IMODE(os.stat(path).st_mode), True))

    previous = os.umask(0)
    monkeypatch.setattr(secrets.os, "open", watching_open)
    monkeypatch.setattr(secrets.os, "mkdir", watching_mkdir)
    try:
        FileSecretStore(tmp_path / "keys").put("device_signing_key", b"k")
    finally:
        monkeypatch.undo()
        os.umask(previous)
    assert [kind for kind, _, _ in created] == ["folder", "file"]
    assert created == [("folder", 0o700, True), ("file", 0o600, True)]


@posix_only
def test_existing_secret_folder_is_made_private(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir(mode=0o755)
    os.chmod(tmp_path / "keys", 0o755)
    FileSecretStore(tmp_path / "keys")
    assert mode(tmp_path / "keys") == 0o700


def test_secret_is_stored_as_base64_one_file_per_name(tmp_path: Path) -> None:
    store = FileSecretStore(tmp_path / "keys")
    store.put("device_signing_key", b"\x00private\xff")
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == ["device_signing_key"]
    text = (tmp_path / "keys" / "device_signing_key").read_bytes()
    assert base64.b64decode(text, validate=True) == b"\x00private\xff"


def test_a_write_that_fails_keeps_the_old_secret_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileSecretStore(tmp_path / "keys")
    store.put("device_signing_key", b"old")

    def disk_full(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(secrets.os, "replace", disk_full)
    with pytest.raises(OSError):
        store.put("device_signing_key", b"new")
    monkeypatch.undo()
    assert store.get("device_signing_key") == b"old"
    assert [p.name for p in (tmp_path / "keys").iterdir()] == ["device_signing_key"]


def test_corrupt_secret_file_is_an_error_not_a_wrong_key(tmp_path: Path) -> None:
    store = FileSecretStore(tmp_path / "keys")
    store.put("device_signing_key", b"k")
    (tmp_path / "keys" / "device_signing_key").write_bytes(b"not base64!")
    with pytest.raises(ValueError):
        store.get("device_signing_key")


@posix_only
def test_secret_file_replaced_by_a_symlink_is_not_followed(tmp_path: Path) -> None:
    store = FileSecretStore(tmp_path / "keys")
    (tmp_path / "elsewhere").write_text(base64.b64encode(b"planted").decode())
    (tmp_path / "keys" / "device_signing_key").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError):
        store.get("device_signing_key")


# --- the memory store in front of Flet's SecureStorage --------------------------------------------


def test_preloaded_secrets_are_readable_and_not_pending() -> None:
    store = MemorySecretStore({"device_signing_key": b"k"})
    assert store.get("device_signing_key") == b"k"
    assert store.changes() == {}


def test_writes_and_deletions_are_pending_until_flushed() -> None:
    store = MemorySecretStore({"old_key": b"o"})
    store.put("device_signing_key", b"k")
    store.delete("old_key")
    pending = store.changes()
    assert pending == {"device_signing_key": b"k", "old_key": None}
    store.mark_flushed(pending)
    assert store.changes() == {}


def test_secret_changed_during_a_flush_stays_pending_for_the_next() -> None:
    store = MemorySecretStore()
    store.put("device_signing_key", b"first")
    in_flight = store.changes()
    store.put("device_signing_key", b"second")
    store.mark_flushed(in_flight)
    assert store.changes() == {"device_signing_key": b"second"}


def test_memory_store_keeps_its_own_copy_of_a_value() -> None:
    store = MemorySecretStore()
    value = bytearray(b"key")
    store.put("device_signing_key", value)  # type: ignore[arg-type]
    value[0] = 0
    assert store.get("device_signing_key") == b"key"


def test_encoded_values_round_trip_as_text_for_text_only_storage() -> None:
    assert secrets.decode_value(secrets.encode_value(bytes(range(256)))) == bytes(range(256))
    with pytest.raises(ValueError):
        secrets.decode_value("***")
