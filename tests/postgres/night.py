"""The same data directory twice — one on the SQLite file, one on PostgreSQL — with the same server
keys, city and enrolled fleet, so the same sealed segments can be applied to both."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

from bench import fleet, lattice
from sync_server.city import import_calendar, import_categories, import_departments, import_grids
from sync_server.config import ServerConfig, save_config
from sync_server.keys import ServerKeys, load_keys
from sync_server.store import open_store


def twin_data_dir(source: Path, dest: Path, city: list[lattice.Cell], members: list[fleet.Member],
                  **config: object) -> ServerKeys:  # fmt: skip
    """`dest`: the keys of `source` (made by `fleet.build_server`), a config of its own (e.g. a
    `database_url`), and the same catalogue and fleet in its store."""
    dest.mkdir(parents=True)
    shutil.copytree(source / "keys", dest / "keys")
    if (source / "keys.json").exists():
        shutil.copy2(source / "keys.json", dest / "keys.json")
    save_config(ServerConfig(data_dir=dest, **config))  # type: ignore[arg-type]
    store = open_store(dest)
    try:
        demo = resources.files("sync_server.data.demo_city")
        import_departments(store, demo.joinpath("departments.csv").read_text("utf-8"))
        import_categories(store, demo.joinpath("categories.csv").read_text("utf-8"))
        import_calendar(store, json.loads(demo.joinpath("calendar.json").read_text("utf-8")))
        import_grids(store, lattice.geojson(city))
        fleet.enroll(store, members, fleet.NOW)
    finally:
        store.close()
    return load_keys(dest, fleet.PASSPHRASE)
