"""`gridsync-server admin …`: workers, enrollment codes, devices, the city's catalogue, conflicts,
backups.

None of these needs the passphrase except `sweep`, which may have to open held segments to apply
them. (`resolve` writes a case the same way the API does, and needs nothing secret: it uses the
store and the city only.)
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from shared.model import Actor, Role
from sync_server.city import import_calendar, import_categories, import_departments, import_grids, load_city
from sync_server.cli_open311 import COMMANDS as OPEN311_COMMANDS
from sync_server.cli_open311 import add_open311_commands, run_open311_command
from sync_server.config import load_config
from sync_server.conflicts import list_conflicts, resolve_conflict
from sync_server.enrollment import add_worker, create_code, enroll_link, revoke_device
from sync_server.keys import load_public_keys
from sync_server.qr import write_qr_png
from sync_server.store import Store, open_store

ADMIN_ACTOR = Actor("admin", Role.ADMIN, all_grids=True)
CLI_DEVICE = "0" * 32  # stands for "the admin console" in audit rows


def accept_data_dir(parser: argparse.ArgumentParser) -> None:
    """Let `--data-dir` follow a subcommand too (`gridsync-server init --data-dir D`), as people type
    it. Given on both sides, the one nearer the end wins; not given here, the top-level value stays
    (SUPPRESS: an absent option leaves the namespace alone)."""
    parser.add_argument(
        "--data-dir",
        default=argparse.SUPPRESS,
        help="the server's data directory (default $GRIDSYNC_DATA_DIR)",
    )


def add_admin_parser(commands: Any, run: Callable[[argparse.Namespace], int]) -> None:
    admin = commands.add_parser("admin", help="workers, devices, catalogue, conflicts")
    accept_data_dir(admin)
    sub = admin.add_subparsers(dest="admin_command", required=True)

    worker = sub.add_parser("add-worker", help="create or update a worker")
    worker.add_argument("worker_id")
    worker.add_argument("--name", required=True)
    worker.add_argument("--role", required=True, choices=[r.value for r in Role])
    worker.add_argument("--grids", default="", help="comma-separated 15-digit grid codes")
    worker.add_argument("--department")
    worker.add_argument("--all-grids", action="store_true")

    code = sub.add_parser("enroll-code", help="a one-time enrollment code and link for a worker")
    code.add_argument("worker_id")
    code.add_argument("--qr", help="also write the link as a QR code PNG")

    sub.add_parser("devices", help="list enrolled devices")
    revoke = sub.add_parser("revoke", help="refuse a lost or retired device from now on")
    revoke.add_argument("device_id")
    for name, what in (
        ("import-categories", "CSV"),
        ("import-departments", "CSV"),
        ("import-grids", "GEOJSON"),
        ("import-calendar", "JSON"),
    ):
        sub.add_parser(name, help=f"replace the city's {name[7:]} from a {what} file").add_argument("file")
    sub.add_parser("conflicts", help="list open hard conflicts")
    resolve = sub.add_parser("resolve", help="resolve a hard conflict")
    resolve.add_argument("case_id")
    resolve.add_argument("conflict_id")
    resolve.add_argument("choice", choices=("keep", "take"))
    sub.add_parser(
        "rotate-keys",
        help="make a new server encryption key; the old one is kept so segments sealed to it still open",
    )
    backup = sub.add_parser(
        "backup", help="copy the store to a new file while the server runs (a consistent snapshot)"
    )
    backup.add_argument("dest", help="the new database file, e.g. gridsync-2026-03-02.db")
    sub.add_parser(
        "sweep",
        help="apply held segments past their wait and flag overdue cases (what `serve` does every minute)",
    )
    add_open311_commands(sub)
    for parser in sub.choices.values():
        accept_data_dir(parser)
    admin.set_defaults(run=run)


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def run_admin(args: argparse.Namespace) -> int:
    from sync_server.cli import data_dir_of

    data_dir = data_dir_of(args)
    if args.admin_command == "sweep":
        return _sweep(data_dir)
    if args.admin_command == "rotate-keys":
        return _rotate(data_dir)
    store = open_store(data_dir)
    try:
        return _dispatch(args, data_dir, store)
    finally:
        store.close()


def _dispatch(args: argparse.Namespace, data_dir: Path, store: Store) -> int:
    now = int(time.time())
    command = args.admin_command
    if command in OPEN311_COMMANDS:
        return run_open311_command(args, store, now)
    if command == "add-worker":
        grids = [g.strip() for g in args.grids.split(",") if g.strip()]
        worker = add_worker(
            store, args.worker_id, name=args.name, role=args.role, grids=grids, department=args.department,
            all_grids=args.all_grids,
        )  # fmt: skip
        print(json.dumps(worker.to_dict(), ensure_ascii=False))
    elif command == "enroll-code":
        config = load_config(data_dir)
        code = create_code(store, args.worker_id, now, config.enrollment_code_ttl_s)
        link = enroll_link(config.server_url, code, load_public_keys(data_dir))
        print(code)
        print(link)
        if args.qr:
            write_qr_png(link, Path(args.qr))
            print(f"QR code written to {args.qr}")
    elif command == "devices":
        rows = [
            [d.device_id, d.worker_id, d.name, str(d.enrolled_at), "revoked" if d.revoked_at else "active",
             str(d.last_seq)]
            for d in store.devices()
        ]  # fmt: skip
        _table("devices", ["device", "worker", "name", "enrolled", "state", "last seq"], rows)
    elif command == "revoke":
        if not revoke_device(store, args.device_id, now):
            raise ValueError(f"no active device {args.device_id!r}")
        print(f"revoked {args.device_id}")
    elif command == "backup":
        store.backup(Path(args.dest))
        print(f"backed up the store to {args.dest} ({Path(args.dest).stat().st_size:,} bytes)")
    elif command.startswith("import-"):
        _import(store, command, Path(args.file))
    elif command == "conflicts":
        rows = [
            [c["case_id"], c["case_no"], c["conflict"]["conflict_id"], c["conflict"]["field"],
             json.dumps(c["conflict"]["kept"], ensure_ascii=False), json.dumps(c["conflict"]["proposed"], ensure_ascii=False)]
            for c in list_conflicts(store, ADMIN_ACTOR)
        ]  # fmt: skip
        _table("open conflicts", ["case", "case no", "conflict", "field", "kept", "proposed"], rows)
    elif command == "resolve":
        case = resolve_conflict(
            store, load_city(store), ADMIN_ACTOR, CLI_DEVICE, args.case_id, args.conflict_id, args.choice, now
        )
        print(f"case {case['case_no']} now at version {case['version']}")
    return 0


def _rotate(data_dir: Path) -> int:
    from sync_server.cli import CommandError, read_passphrase
    from sync_server.keys import KeyFileError, rotate_encryption_key

    try:
        keys = rotate_encryption_key(data_dir, read_passphrase())
    except KeyFileError as exc:
        raise CommandError(str(exc)) from None
    print(f"new encryption key id {keys.public.encryption_key_id}; {len(keys.retired)} retired key(s) kept")
    print("restart `serve`; phones switch to the new key on their next sync")
    return 0


def _sweep(data_dir: Path) -> int:
    from sync_server.cli import CommandError, read_passphrase
    from sync_server.keys import KeyFileError
    from sync_server.services import open_services
    from sync_server.sweeps import sweep

    try:
        services = open_services(load_config(data_dir), read_passphrase())
    except KeyFileError as exc:
        raise CommandError(str(exc)) from None
    try:
        result = sweep(services)
    finally:
        services.close()
    print(f"{result.forced} held segments applied, {result.overdue} cases flagged overdue")
    return 0


def _import(store: Store, command: str, path: Path) -> None:
    text = path.read_text("utf-8")
    if command == "import-categories":
        print(f"{import_categories(store, text)} categories")
    elif command == "import-departments":
        print(f"{import_departments(store, text)} departments")
    elif command == "import-grids":
        print(f"{import_grids(store, json.loads(text))} grids")
    else:
        import_calendar(store, json.loads(text))
        print("calendar imported")
