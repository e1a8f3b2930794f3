"""The Open311 routes bound to a running server's services and its city's settings."""

from __future__ import annotations

from fastapi import FastAPI

from shared.catalogue import Category
from shared.errors import GridsyncError
from shared.model import Actor, Case, Role
from sync_server.api.open311 import Open311Settings, Open311Source, open311_router
from sync_server.api.ratelimit import MemoryBuckets, Rule, check
from sync_server.config import ServerConfig
from sync_server.open311_intake import authenticate, file_request
from sync_server.open311_privacy import PublicPolicy
from sync_server.services import Services

PUBLISHER = Actor("open311", Role.ADMIN, all_grids=True)


def open311_settings(config: ServerConfig, utc_offset_minutes: int) -> Open311Settings:
    origins = frozenset(o.strip() for o in config.open311_cors_origins.split(",") if o.strip())
    return Open311Settings(
        jurisdiction_id=config.open311_jurisdiction_id,
        policy=PublicPolicy(
            config.open311_coordinate_decimals,
            config.open311_descriptions,
            frozenset(s.strip() for s in config.open311_photo_stages.split(",") if s.strip()),
        ),
        cors_origins=origins,
        utc_offset_minutes=utc_offset_minutes,
    )


def mount_open311(app: FastAPI, services: Services) -> None:
    store, cities = services.store, services.cities

    def get_case(request_id: str) -> Case | None:
        return store.case_by_number(request_id) or (store.case(request_id) if len(request_id) == 32 else None)

    def categories() -> list[Category]:
        return list(cities.get().catalogue.categories.values())

    def photo_blob(sha256: str) -> bytes | None:
        try:  # as a city-wide reader: the feed's own policy decided this photo may be published
            return services.photos.read(sha256, PUBLISHER)
        except GridsyncError:
            return None

    def photo_ready(sha256: str) -> bool:
        record = store.photo(sha256)
        return record is not None and record.complete

    # Each key's own rate (requests a minute, as much burst), counted in this process.
    limiter = MemoryBuckets(clock=services.clock)

    def file(api_key: str | None, form: dict[str, str], now: int) -> Case:
        key = authenticate(store, api_key)
        check(limiter, Rule("open311/key", key.rate_per_minute, key.rate_per_minute), key.key_id)
        return file_request(store, cities.get(), key, form, now)

    source = Open311Source(
        public_cases=store.public_cases,
        get_case=get_case,
        categories=categories,
        public_texts=store.public_texts,
        photo_blob=photo_blob,
        photo_ready=photo_ready,
        file=file,
        clock=services.clock,
    )
    settings = open311_settings(services.config, cities.get().calendar.utc_offset_minutes)
    app.include_router(open311_router(source, settings))
