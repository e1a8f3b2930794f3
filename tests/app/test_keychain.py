"""The device's keys in the phone's secure storage, through a fake of Flet's async SecureStorage (the
true boundary: the real one lives in the Flutter client). Desktop, browser and tests keep them in
owner-only files."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from mobile.app.main import SessionRegistry
from mobile.app.state.keychain import PREFIX, PhoneKeychain, uses_secure_storage
from mobile.app.state.session import AppSession
from mobile.core.identity import ENCRYPTION_SECRET, SIGNING_SECRET, DeviceKeys
from mobile.core.secrets import FileSecretStore, decode_value
from tests.mobile.conftest import Clock, enroll_offline


class FakeSecureStorage:
    """`flet_secure_storage.SecureStorage`'s async methods over a dict of strings. `failing` makes
    every call raise as a client that went away does; `gate`, when set, holds each write until opened."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        self.values = dict(values or {})
        self.failing = False
        self.gate: asyncio.Event | None = None
        self.reads = 0

    def _call(self) -> None:
        if self.failing:
            raise RuntimeError("secure storage: no client")

    async def get_all(self) -> dict[str, str]:
        await asyncio.sleep(0)
        self.reads += 1
        self._call()
        return dict(self.values)

    async def set(self, key: str, value: str) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self._call()
        assert isinstance(value, str)  # the storage holds text
        self.values[key] = value

    async def remove(self, key: str) -> None:
        await asyncio.sleep(0)
        self._call()
        self.values.pop(key, None)


def ours(storage: FakeSecureStorage) -> set[str]:
    return {k for k in storage.values if k.startswith(PREFIX)}


def test_phones_keep_keys_in_secure_storage_and_everything_else_in_files() -> None:
    assert uses_secure_storage("android", web=False)
    assert uses_secure_storage("ios", web=False)
    assert not uses_secure_storage("android", web=True)  # a browser on a phone: the device is served
    for desktop in ("linux", "macos", "windows", "", None):
        assert not uses_secure_storage(desktop, web=False)


def test_keys_made_at_enrollment_reach_secure_storage_and_open_the_phone_on_its_next_start(
    tmp_path: Path, clock: Clock
) -> None:
    storage = FakeSecureStorage({"other.app.setting": "left alone"})
    keychain = PhoneKeychain(storage)
    asyncio.run(keychain.load())
    enroll_offline(tmp_path / "phone", clock, secrets=keychain.secrets).close()
    assert asyncio.run(keychain.flush())
    assert ours(storage) == {PREFIX + SIGNING_SECRET, PREFIX + ENCRYPTION_SECRET}
    assert len(decode_value(storage.values[PREFIX + SIGNING_SECRET])) == 32
    assert keychain.secrets.changes() == {}

    # The app starts again: keys come back from secure storage, and never went to a file.
    again = PhoneKeychain(storage)
    asyncio.run(again.load())
    app = AppSession(tmp_path / "phone", device_locales=["en"], keychain=again, clock=clock)
    assert app.enrolled
    assert not (tmp_path / "phone" / "secrets").exists()

    asyncio.run(app.sign_out(force=True))  # signing out forgets the keys in secure storage too
    assert ours(storage) == set() and storage.values == {"other.app.setting": "left alone"}
    asyncio.run(app.aclose())


def test_a_failed_write_is_tried_again_at_the_next_flush(tmp_path: Path, clock: Clock) -> None:
    storage = FakeSecureStorage()
    keychain = PhoneKeychain(storage)
    asyncio.run(keychain.load())
    storage.failing = True
    enroll_offline(tmp_path / "phone", clock, secrets=keychain.secrets).close()
    assert not asyncio.run(keychain.flush())
    assert set(keychain.secrets.changes()) == {SIGNING_SECRET, ENCRYPTION_SECRET}
    storage.failing = False
    assert asyncio.run(keychain.flush())
    assert ours(storage) == {PREFIX + SIGNING_SECRET, PREFIX + ENCRYPTION_SECRET}


def test_a_key_changed_while_a_flush_is_writing_stays_for_the_next_flush() -> None:
    storage = FakeSecureStorage()
    keychain = PhoneKeychain(storage)

    async def scenario() -> None:
        await keychain.load()
        keychain.secrets.put("device_signing_key", b"old")
        storage.gate = asyncio.Event()
        flushing = asyncio.create_task(keychain.flush())
        await asyncio.sleep(0.01)  # the write of b"old" is held at the gate
        keychain.secrets.put("device_signing_key", b"new")
        storage.gate.set()
        assert not await flushing  # b"new" is still to be written
        assert keychain.secrets.changes() == {"device_signing_key": b"new"}
        assert await keychain.flush()

    asyncio.run(scenario())
    assert decode_value(storage.values[PREFIX + "device_signing_key"]) == b"new"


def test_reading_secure_storage_is_tried_again_and_then_fails_loudly() -> None:
    storage = FakeSecureStorage({PREFIX + "device_signing_key": "a2V5", PREFIX + "Bad Name": "eA=="})
    storage.failing = True
    with pytest.raises(RuntimeError):
        asyncio.run(PhoneKeychain(storage).load(attempts=3, retry_delay=0))
    assert storage.reads == 3  # starting with no keys would make an enrolled phone look new

    storage.failing = False
    secrets = asyncio.run(PhoneKeychain(storage).load())
    assert secrets.get("device_signing_key") == b"key"  # names that are not ours are left out


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_off_a_phone_the_keys_are_owner_only_files_beside_the_data(tmp_path: Path, clock: Clock) -> None:
    enroll_offline(tmp_path / "phone", clock).close()  # the catalogue and identity, keys elsewhere
    app = AppSession(tmp_path / "phone", device_locales=["en"], clock=clock)
    assert app.keychain is None and not app.enrolled
    DeviceKeys.generate().save(app.secrets)
    folder = tmp_path / "phone" / "secrets"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {
        SIGNING_SECRET: 0o600,
        ENCRYPTION_SECRET: 0o600,
    }
    assert asyncio.run(app.save_keys())  # nothing to do: files are written as they change
    app.close()


def test_pages_of_a_phone_share_one_session_whose_keys_are_saved_when_the_last_page_closes(
    tmp_path: Path,
) -> None:
    registry = SessionRegistry()
    first_page, second_page = FakeSecureStorage(), FakeSecureStorage()

    async def scenario() -> None:
        app = await registry.acquire(tmp_path / "phone", ["en"], first_page)
        assert app.keychain is not None and app.secrets is app.keychain.secrets
        DeviceKeys.generate().save(app.secrets)  # as enrollment does
        again = await registry.acquire(tmp_path / "phone", ["en"], second_page)
        assert again is app and app.keychain.storage is second_page  # the live page's service
        await registry.release(tmp_path / "phone")
        assert ours(second_page) == set()  # another page still uses the session
        await registry.release(tmp_path / "phone")
        assert ours(second_page) == {PREFIX + SIGNING_SECRET, PREFIX + ENCRYPTION_SECRET}

        desktop = await registry.acquire(tmp_path / "desktop", ["en"])
        assert desktop.keychain is None and isinstance(desktop.secrets, FileSecretStore)
        await registry.release(tmp_path / "desktop")

    asyncio.run(scenario())
