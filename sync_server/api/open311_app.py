"""The Open311 routes bound to a running server's services and its city's settings."""

from __future__ import annotations

from fastapi import FastAPI

from shared.catalogue import Category
from shared.model import Case
from sync_server.api.open311 import Open311Settings, Open311Source, open311_router
from sync_server.config import ServerConfig
from sync_server.open311_intake import FilingDesk
from sync_server.open311_privacy import PublicPolicy
from sync_server.services import Services


def open311_settings(config: ServerConfig, utc_offset_minutes: int) -> Open311Settings:
    origins = frozenset(o.strip() for o in config.open311_cors_origins.split(",") if o.strip())
    return Open311Settings(
        jurisdiction_id=config.open311_jurisdiction_id,
        policy=PublicPolicy(config.open311_coordinate_decimals, config.open311_descriptions),
        cors_origins=origins,
        utc_offset_minutes=utc_offset_minutes,
    )


def mount_open311(app: FastAPI, services: Services) -> None:
    store, cities = services.store, services.cities

    def get_case(request_id: str) -> Case | None:
        return store.case_by_number(request_id) or (store.case(request_id) if len(request_id) == 32 else None)

    def categories() -> list[Category]:
        return list(cities.get().catalogue.categories.values())

    source = Open311Source(
        public_cases=store.public_cases,
        get_case=get_case,
        categories=categories,
        public_texts=store.public_texts,
        file=FilingDesk(store, cities.get),
        clock=services.clock,
    )
    settings = open311_settings(services.config, cities.get().calendar.utc_offset_minutes)
    app.include_router(open311_router(source, settings))
