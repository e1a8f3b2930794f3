"""The server's settings: one JSON file (`config.json`) in the data directory.

Unknown keys are refused, so a typo never silently leaves a limit at its default.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.envelope import Limits

CONFIG_FILE = "config.json"
DATA_DIR_ENV = "GRIDSYNC_DATA_DIR"
PASSPHRASE_ENV = "GRIDSYNC_PASSPHRASE"
APPLY_MODES = ("now", "queue")


class ConfigError(ValueError):
    """The data directory or its config cannot be used; the message says what to do."""


@dataclass(frozen=True)
class ServerConfig:
    data_dir: Path
    apply_mode: str = "now"  # "now": reconcile on POST; "queue": spool for the overnight ingest
    # the store: a database URL (`postgresql://…`); "": the SQLite file <data>/gridsync.db. The
    # environment's GRIDSYNC_DATABASE_URL and `--database-url` come first (`store.database_url`).
    database_url: str = ""
    server_url: str = "http://127.0.0.1:8000"
    max_body_bytes: int = 8 * 1024 * 1024 + 4096
    max_segment_bytes: int = 8 * 1024 * 1024
    max_ops: int = 2000
    max_plain_bytes: int = 32 * 1024 * 1024
    max_photo_bytes: int = 20 * 1024 * 1024 + 1024
    max_photo_chunk: int = 1024 * 1024
    backlog_force_after_s: int = 24 * 3600
    # phones keep sealed segments this long after the server accepted them (told in every changes
    # page): a restore from a backup up to this age loses nothing a phone holds (docs/server.md)
    segment_retention_s: int = 30 * 24 * 3600
    replay_window_s: int = 300
    enrollment_code_ttl_s: int = 7 * 24 * 3600
    changes_limit_max: int = 1000
    # seconds between reads of the change counter while phones long-poll (`GET /v1/changes?wait=`): how
    # soon a write by another process wakes them on SQLite, and on PostgreSQL when LISTEN is down
    changes_poll_s: int = 1
    # --- Open311, the public feed (docs/server.md, "Open311") ---
    open311_jurisdiction_id: str = ""  # the id clients may send; "": none (any jurisdiction_id is refused)
    open311_coordinate_decimals: int = 4  # published lat/long rounded: 4 decimals is ~10 m
    open311_descriptions: bool = True  # publish filed cases' descriptions and addresses, masked
    open311_cors_origins: str = ""  # comma-separated origins a browser may read the feed from; "*": any
    open311_photo_stages: str = ""  # photo stages published for closed cases, e.g. "after"; "": none
    sweep_interval_s: int = 60  # `serve`: force-apply expired backlog, flag overdue cases; 0: never
    metrics_token: str = ""  # set: GET /metrics answers only `Authorization: Bearer <token>`
    metrics_listen: str = ""  # "host:port": /metrics served there by `serve`, and not on the API's address
    # --- operating limits of `serve` (docs/server.md, "Operating limits") ---
    header_timeout_s: int = 10  # a request's headers must be in this long after its first byte
    max_header_bytes: int = 16 * 1024
    body_idle_timeout_s: int = 20  # the longest silence while a body streams in (408 after it)
    body_timeout_s: int = 300  # a whole body, however it trickles
    keep_alive_timeout_s: int = 5  # an idle kept-alive connection is closed after this
    max_connections: int = 1000  # beyond it, new requests are answered 503 at once
    listen_backlog: int = 1024
    api_threads: int = 8  # threads doing store work; each keeps one SQLite connection
    # bodies of signed requests in progress (from before their signature is checked): those up to
    # 2 MiB, larger ones, and how many at once per claimed device
    unverified_small_bodies_kib: int = 64 * 1024
    unverified_large_bodies_kib: int = 32 * 1024
    unverified_bodies_per_device: int = 2
    sqlite_cache_kib: int = 8 * 1024  # page cache per API connection (`ingest` keeps 64 MiB)
    forwarded_allow_ips: str = "127.0.0.1"  # proxies trusted for X-Forwarded-For (the client address)
    rate_limit_exempt_ips: str = "127.0.0.1,::1"  # addresses never limited per address (comma-separated)
    # token buckets: sustained rate per minute and burst; 0 switches a limit off
    enroll_per_address_per_min: int = 10
    enroll_per_address_burst: int = 20
    push_per_device_per_min: int = 60
    push_per_device_burst: int = 120
    push_per_address_per_min: int = 3000
    push_per_address_burst: int = 1000
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def limits(self) -> Limits:
        return Limits(self.max_segment_bytes, self.max_ops, self.max_plain_bytes)

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def photo_dir(self) -> Path:
        return self.data_dir / "photos"

    def to_dict(self) -> dict[str, Any]:
        out = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("data_dir", "extra")
        }
        return out


def _fields() -> dict[str, type]:
    return {
        f.name: type(f.default)
        for f in dataclasses.fields(ServerConfig)
        if f.name not in ("data_dir", "extra")
    }


def load_config(data_dir: Path) -> ServerConfig:
    path = data_dir / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"{path} not found: run `gridsync-server init --data-dir {data_dir}` first")
    try:
        raw = json.loads(path.read_text("utf-8"))
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
    return config_from_dict(data_dir, raw)


def config_from_dict(data_dir: Path, raw: Any) -> ServerConfig:
    if not isinstance(raw, dict):
        raise ConfigError("config must be a JSON object")
    known = _fields()
    unknown = set(raw) - set(known)
    if unknown:
        raise ConfigError(f"unknown config keys: {sorted(unknown)}")
    for name, value in raw.items():
        if type(value) is not known[name]:
            raise ConfigError(f"config {name} must be {known[name].__name__}, not {value!r}")
    config = ServerConfig(data_dir=data_dir, **raw)
    if config.apply_mode not in APPLY_MODES:
        raise ConfigError(f"apply_mode must be one of {APPLY_MODES}")
    return config


def save_config(config: ServerConfig) -> None:
    path = config.data_dir / CONFIG_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(config.to_dict(), indent=2) + "\n", "utf-8")
    os.replace(tmp, path)


def default_data_dir() -> Path | None:
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value) if value else None
