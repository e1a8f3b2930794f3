"""Rotating the server's encryption key while phones are in the field loses nothing."""

from __future__ import annotations

from pathlib import Path

import httpx

from mobile.core.device import Device
from mobile.core.secrets import MemorySecretStore
from shared import crypto
from tests.mobile.conftest import GRID_A, PASSPHRASE, Server, fix_in, run


def restart(server: Server) -> Server:
    from sync_server.api.app import build_app
    from sync_server.config import load_config
    from sync_server.services import open_services

    server.services.close()
    services = open_services(load_config(server.data_dir), PASSPHRASE, server.clock)
    app = build_app(services)
    return Server(server.data_dir, server.clock, app, services, httpx.ASGITransport(app=app))


def reopen(folder: Path, secrets: MemorySecretStore, server: Server) -> Device:
    return Device.open(folder, secrets, clock=server.clock, transport=server.transport)


def test_a_phone_sealing_to_the_retired_key_is_still_heard_and_then_switches_to_the_new_key(
    server: Server, tmp_path: Path
) -> None:
    from sync_server.keys import load_keys, rotate_encryption_key

    code = server.add_worker("zhang.wei")
    secrets = MemorySecretStore()
    phone = reopen(tmp_path / "phone", secrets, server)
    run(phone.enroll(server.url, code))
    first = phone.report(category="0101", location=fix_in(GRID_A), description="before the rotation")
    assert run(phone.sync()).ok
    old_key = phone.store.server_keys().encryption  # type: ignore[union-attr]

    rotated = rotate_encryption_key(server.data_dir, PASSPHRASE)
    new_key = crypto.public_raw(rotated.encryption)
    assert new_key != old_key and len(load_keys(server.data_dir, PASSPHRASE).retired) == 1
    server = restart(server)
    phone.close()
    phone = reopen(tmp_path / "phone", secrets, server)

    # Sealed to the retired key: the restarted server still opens it.
    second = phone.report(category="0101", location=fix_in(GRID_A), description="sealed to the old key")
    report = run(phone.sync())
    assert report.ok, report
    assert server.case(second) is not None
    # The changes page, signed by the pinned key, named the new key: the phone seals to it now.
    assert phone.store.server_keys().encryption == new_key  # type: ignore[union-attr]
    third = phone.report(category="0101", location=fix_in(GRID_A), description="sealed to the new key")
    assert run(phone.sync()).ok
    assert all(server.case(c) is not None for c in (first, second, third))
    assert all(not v.pending for v in phone.cases())
    phone.close()
    server.services.close()
