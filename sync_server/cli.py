"""`gridsync-server`: init, serve, ingest, admin, report, export.

Every command takes `--data-dir` (default: $GRIDSYNC_DATA_DIR). The passphrase that unlocks the
server's private keys comes from $GRIDSYNC_PASSPHRASE or a prompt; it is never a flag (flags show
up in `ps`).
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import signal
import sys
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from shared.errors import GridsyncError
from sync_server.admin_audit import record_admin_action
from sync_server.city import import_calendar, import_categories, import_departments, import_grids
from sync_server.cli_admin import accept_data_dir, add_admin_parser, run_admin
from sync_server.config import (
    APPLY_MODES,
    DATA_DIR_ENV,
    PASSPHRASE_ENV,
    ConfigError,
    ServerConfig,
    default_data_dir,
    load_config,
    save_config,
)
from sync_server.file_modes import make_private_folder, private_files, warnings
from sync_server.keys import KeyFileError, create_keys, load_keys
from sync_server.metrics import join_shared_dir, prepare_shared_dir, serve_apart
from sync_server.store import DATABASE_URL_ENV, open_store


class CommandError(Exception):
    """A refusal the operator can act on: printed without a traceback, exit status 2."""


def read_passphrase(confirm: bool = False) -> str:
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    if not sys.stdin.isatty():
        raise CommandError(f"no passphrase: set {PASSPHRASE_ENV} or run in a terminal")
    first = getpass.getpass("Passphrase for the server keys: ")
    if confirm and getpass.getpass("Again: ") != first:
        raise CommandError("the passphrases differ")
    return first


def data_dir_of(args: argparse.Namespace) -> Path:
    folder = args.data_dir or default_data_dir()
    if folder is None:
        raise CommandError(f"no data directory: pass --data-dir or set {DATA_DIR_ENV}")
    return Path(folder)


# --- init ---------------------------------------------------------------------------------------------


def load_demo_city(data_dir: Path) -> None:
    demo = resources.files("sync_server.data") / "demo_city"
    store = open_store(data_dir)
    try:
        import_departments(store, (demo / "departments.csv").read_text("utf-8"))
        import_categories(store, (demo / "categories.csv").read_text("utf-8"))
        import_grids(store, json.loads((demo / "grids.geojson").read_text("utf-8")))
        import_calendar(store, json.loads((demo / "calendar.json").read_text("utf-8")))
    finally:
        store.close()


def cmd_init(args: argparse.Namespace) -> int:
    data_dir = data_dir_of(args)
    make_private_folder(data_dir)  # 0700, also if the operator made it beforehand
    passphrase = read_passphrase(confirm=True)
    try:
        keys = create_keys(data_dir, passphrase)
    except KeyFileError as exc:
        raise CommandError(str(exc)) from None
    config = ServerConfig(data_dir=data_dir, apply_mode=args.apply_mode, server_url=args.server_url)
    save_config(config)
    open_store(data_dir).close()
    if args.demo:
        load_demo_city(data_dir)
    store = open_store(data_dir)
    try:
        after = {"apply_mode": config.apply_mode, "server_url": config.server_url, "demo": args.demo,
                 "signing_key_id": keys.public.signing_key_id}  # fmt: skip
        record_admin_action(store, "init", str(data_dir), after=after)
    finally:
        store.close()
    print(f"initialised {data_dir}")
    print(
        f"server signing key id {keys.public.signing_key_id}, encryption key id {keys.public.encryption_key_id}"
    )
    return 0


# --- serve --------------------------------------------------------------------------------------------


def check_writable(data_dir: Path) -> None:
    """Refuse to start on a data directory that cannot take writes (a read-only or full disk)."""
    probe = data_dir / ".write-check"
    try:
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise CommandError(
            f"cannot write to {data_dir}: {exc.strerror} (is the disk read-only or full?)"
        ) from None


def worker_app() -> Any:
    """The app in each of `serve --workers N`'s processes (uvicorn calls this factory there): tied to
    uvicorn's supervisor first, so a worker never outlives it (`sync_server.lifeline`)."""
    from sync_server.api.app import app_from_env
    from sync_server.api.serving import settle_heap
    from sync_server.lifeline import die_with_parent

    die_with_parent()
    app = app_from_env()
    settle_heap()
    return app


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from sync_server.api.app import create_app
    from sync_server.api.serving import settle_heap, uvicorn_options

    data_dir = data_dir_of(args)
    config = load_config(data_dir)
    passphrase = read_passphrase()
    try:
        load_keys(data_dir, passphrase)  # refuse a wrong passphrase before anything listens
    except KeyFileError as exc:
        raise CommandError(str(exc)) from None
    check_writable(data_dir)
    for line in warnings(data_dir):
        print(f"gridsync-server: {line}", file=sys.stderr)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    shared = prepare_shared_dir(data_dir)  # every worker (and an ingest run beside them) counts here
    if config.metrics_listen:
        serve_apart(config.metrics_listen, shared, open_store(data_dir))
    if args.workers > 1:
        os.environ[DATA_DIR_ENV] = str(data_dir)
        os.environ[PASSPHRASE_ENV] = passphrase
        uvicorn.run(
            "sync_server.cli:worker_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            **uvicorn_options(config),
        )
    else:
        app = create_app(config, passphrase=passphrase)
        settle_heap()
        uvicorn.run(app, host=args.host, port=args.port, **uvicorn_options(config))
    return 0


# --- ingest, report, export ---------------------------------------------------------------------------


def cmd_ingest(args: argparse.Namespace) -> int:
    from sync_server.ingest import run_ingest
    from sync_server.lifeline import stop_on_sigterm
    from sync_server.services import open_services

    config = load_config(data_dir_of(args))
    join_shared_dir(config.data_dir)  # a running `serve` shows this run in its /metrics
    try:
        services = open_services(config, read_passphrase())
    except KeyFileError as exc:
        raise CommandError(str(exc)) from None
    try:
        with stop_on_sigterm():  # a service manager's stop ends the helpers and closes the store
            summary = run_ingest(services, Path(args.spool), progress=not args.quiet)
    finally:
        services.close()
    return 0 if summary.rejected == 0 else 1


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def cmd_report(args: argparse.Namespace) -> int:
    from sync_server.city import load_city
    from sync_server.reports import compute_report, day_start, local_day, render_report

    store = open_store(data_dir_of(args))
    try:
        city = load_city(store)
        offset = city.calendar.utc_offset_minutes  # days begin at midnight where the city is
        today = local_day(args.now, offset)
        start = day_start(args.start or today - timedelta(days=30), offset)
        end = day_start(args.end or today + timedelta(days=1), offset)
        report = compute_report(store.cases(), start=start, end=end, now=args.now, calendar=city.calendar)
        text = render_report(report, args.lang, utc_offset_minutes=city.calendar.utc_offset_minutes)
    finally:
        store.close()
    if args.output:
        Path(args.output).write_text(text, "utf-8")
    else:
        print(text)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from sync_server.export import write_csv, write_geojson

    store = open_store(data_dir_of(args))
    try:
        path = Path(args.output)
        writer = write_csv if args.format == "csv" or path.suffix == ".csv" else write_geojson
        count = writer(store.cases(), path)
    finally:
        store.close()
    print(f"{count} cases written to {path}")
    return 0


def cmd_migrate_store(args: argparse.Namespace) -> int:
    """Copy the data directory's SQLite store into PostgreSQL (`store.postgres.copy`)."""
    from sync_server.store import DATABASE_FILE
    from sync_server.store.postgres.copy import copy_store

    data_dir = data_dir_of(args)
    result = copy_store(data_dir / DATABASE_FILE, args.to)
    for check in result.tables:
        print(f"{check.table:24} {check.rows:>12,} rows  sha256-sum {check.checksum[:16]}…")
    verb = "copied and verified" if result.copied else "already there, verified (nothing copied)"
    print(f"{verb}: every table's row count and checksum match; incarnation {result.incarnation}")
    print(f"next: serve with --database-url (or {DATABASE_URL_ENV}, or database_url in config.json)")
    return 0


# --- the parser ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridsync-server", description="The gridsync sync server.")
    parser.add_argument("--data-dir", help=f"the server's data directory (default ${DATA_DIR_ENV})")
    parser.add_argument(
        "--database-url",
        help=f"the store's database, e.g. postgresql://… (default ${DATABASE_URL_ENV}, then "
        "config.json's database_url, then the SQLite file in the data directory)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    init = commands.add_parser("init", help="create the data directory, keys and database")
    init.add_argument("--demo", action="store_true", help="load the demo city (categories, grids, calendar)")
    init.add_argument("--apply-mode", choices=APPLY_MODES, default="now")
    init.add_argument("--server-url", default="http://127.0.0.1:8000", help="the URL phones reach")
    init.set_defaults(run=cmd_init)

    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(run=cmd_serve)

    ingest = commands.add_parser("ingest", help="apply the segment and hand-over files of a spool folder")
    ingest.add_argument("spool")
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")
    ingest.set_defaults(run=cmd_ingest)

    today = int(datetime.now(UTC).timestamp())
    report = commands.add_parser("report", help="evaluation figures (综合评价) for a period")
    report.add_argument(
        "--start", type=_day, help="first day, YYYY-MM-DD in the city's time zone (default: 30 days ago)"
    )
    report.add_argument("--end", type=_day, help="day after the last, YYYY-MM-DD (default: tomorrow)")
    report.add_argument("--lang", default="zh-CN", choices=("zh-CN", "en"))
    report.add_argument("--output", help="write to this file instead of the terminal")
    report.set_defaults(run=cmd_report, now=today)

    export = commands.add_parser("export", help="all cases as GeoJSON or CSV")
    export.add_argument("output")
    export.add_argument("--format", choices=("geojson", "csv"), default="geojson")
    export.set_defaults(run=cmd_export)

    migrate_store = commands.add_parser(
        "migrate-store", help="copy the SQLite store into PostgreSQL, verified (stop serve and ingest first)"
    )
    migrate_store.add_argument("--to", required=True, metavar="postgresql://…", help="the target database")
    migrate_store.set_defaults(run=cmd_migrate_store)

    for command in (init, serve, ingest, report, export, migrate_store):
        accept_data_dir(command)
    add_admin_parser(commands, run_admin)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.database_url:  # through the environment: `serve --workers N` starts its workers with it
        os.environ[DATABASE_URL_ENV] = args.database_url
    try:
        with private_files():  # folders 0700, files 0600, whatever the operator's umask
            code: int = args.run(args)
    except (CommandError, ConfigError, ValueError, GridsyncError) as exc:
        print(f"gridsync-server: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: the `finally` blocks ran (helpers stopped, store closed)
        print("gridsync-server: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    return code


if __name__ == "__main__":
    sys.exit(main())
