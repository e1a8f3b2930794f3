"""Request nonces on every store: spent once across all processes, forgotten after they expire, and
spent without a transaction of the caller's (a signed GET opens no write transaction)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from sync_server.api.app import build_app
from sync_server.config import load_config
from sync_server.enrollment import create_code
from sync_server.services import open_services
from sync_server.store import Store
from tests.server.asgi import asgi_client
from tests.server.device import TestDevice
from tests.store import world

NOW = world.MONDAY_10AM


def test_a_nonce_is_claimed_once_until_it_is_forgotten(store: Store) -> None:
    assert store.claim_nonce("dev1", "n1", NOW, NOW - 600)
    assert not store.claim_nonce("dev1", "n1", NOW, NOW - 600)
    assert not store.claim_nonce("dev1", "n1", NOW + 30, NOW - 570)  # still remembered
    assert store.claim_nonce("dev2", "n1", NOW, NOW - 600)  # per device
    # later than twice the window: forgotten, whenever the store purges, and claimable once again
    assert store.claim_nonce("dev1", "n1", NOW + 601, NOW + 1)
    assert not store.claim_nonce("dev1", "n1", NOW + 601, NOW + 1)


def test_an_expired_nonce_is_claimable_before_any_purge_has_run(store: Store) -> None:
    """The purge is occasional (not per request): what decides is the expiry, never the purge."""
    for second in range(0, 50):  # within the purge period of the first claim: at most one purge
        assert store.claim_nonce("dev1", f"n{second}", NOW + second, NOW + second - 600)
    assert store.claim_nonce("dev1", "n10", NOW + 611, NOW + 11)  # expired 1 s ago
    assert not store.claim_nonce("dev1", "n11", NOW + 611, NOW + 11)  # not yet


class CountingStore:
    """The real store, counting the transactions and groups opened through it."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.opened = 0

    def transaction(self) -> AbstractContextManager[Any]:
        self.opened += 1
        return self.inner.transaction()

    def group(self) -> AbstractContextManager[None]:
        self.opened += 1
        return self.inner.group()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@contextmanager
def counted_server(data_dir: Path) -> Iterator[tuple[Any, CountingStore, world.FixedClock]]:
    clock = world.FixedClock()
    services = open_services(load_config(data_dir), world.PASSPHRASE, clock)
    counting = CountingStore(services.store)
    services.store = counting  # type: ignore[assignment]
    try:
        with asgi_client(build_app(services)) as client:
            yield client, counting, clock
    finally:
        services.close()


def test_a_signed_get_opens_no_write_transaction(data_dir: Path) -> None:
    with counted_server(data_dir) as (client, counting, clock):
        device = TestDevice(client, clock)
        device.enroll(create_code(counting.inner, "zhang.wei", clock.now, 3600))
        device.push_ops([device.create()])
        before = counting.opened
        for _ in range(5):
            assert device.get("/v1/changes").status_code == 200
            assert device.get("/v1/people").status_code == 200
        assert counting.opened == before, "a signed GET opened a transaction"
        nonce = "same-nonce-0123456789"
        headers = device.headers("GET", "/v1/changes", nonce=nonce)
        assert client.get("/v1/changes", headers=headers).status_code == 200
        again = client.get("/v1/changes", headers=headers)
        assert again.status_code == 401 and again.json()["error"]["code"] == "request.replayed"
        assert counting.opened == before
