"""The server's parts wired together once: config, store, keys, city, and the services over them.

The HTTP API, the ingest and the admin CLI all start from `open_services`; tests pass a clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sync_server.city import CityCache
from sync_server.config import ServerConfig
from sync_server.keys import ServerKeys, load_keys
from sync_server.metrics import GridsyncMetrics, gridsync_metrics
from sync_server.photos import PhotoShelf
from sync_server.reconcile import Reconciler
from sync_server.store import Store, open_store

Clock = Callable[[], int]


def system_clock() -> int:
    return int(time.time())


@dataclass
class Services:
    config: ServerConfig
    store: Store
    keys: ServerKeys
    cities: CityCache
    reconciler: Reconciler
    photos: PhotoShelf
    metrics: GridsyncMetrics
    clock: Clock = field(default=system_clock)

    def close(self) -> None:
        self.store.close()


def open_services(
    config: ServerConfig, passphrase: str, clock: Clock | None = None, *, cache_kib: int | None = None
) -> Services:
    """Raises `keys.KeyFileError` for a wrong passphrase or missing keys. `cache_kib`: the SQLite page
    cache of each of the store's connections (`serve` passes `config.sqlite_cache_kib`)."""
    keys = load_keys(config.data_dir, passphrase)
    store = (
        open_store(config.data_dir) if cache_kib is None else open_store(config.data_dir, cache_kib=cache_kib)
    )
    cities = CityCache(store)
    metrics = gridsync_metrics()
    return Services(
        config=config,
        store=store,
        keys=keys,
        cities=cities,
        reconciler=Reconciler(store, config, keys, cities, metrics),
        photos=PhotoShelf(store, config.photo_dir, config.max_photo_bytes),
        metrics=metrics,
        clock=clock or system_clock,
    )
