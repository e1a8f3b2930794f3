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
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from shared.model import Actor, Role
from sync_server.admin_audit import document_summary, record_admin_action
from sync_server.city import import_calendar, import_categories, import_departments, import_grids, load_city
from sync_server.cli_open311 import COMMANDS as OPEN311_COMMANDS
from sync_server.cli_open311 import add_open311_commands, run_open311_command
from sync_server.config import load_config
from sync_server.conflicts import list_conflicts, resolve_conflict
from sync_server.enrollment import add_worker, code_hash, create_code, enroll_link, revoke_device
from sync_server.export import iso_time
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
    audit = sub.add_parser("audit", help="the admin audit: every admin action, who ran it and when")
    audit.add_argument("--action", help="only this action, e.g. add-worker, revoke, import-grids")
    audit.add_argument("--target", help="only actions on this worker, device, catalogue or file")
    audit.add_argument("--since", help="from this day (YYYY-MM-DD, the city's zone) or ISO time on")
    audit.add_argument("--until", help="before this day or ISO time")
    audit.add_argument("--json", action="store_true", help="one JSON object a line instead of a table")
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
    restore = sub.add_parser(
        "restore",
        help="replace the store with a backup, as a new incarnation (stop serve and ingest first; "
        "the current store is kept beside it)",
    )
    restore.add_argument("backup", help="a file written by `admin backup` (or any copy of a store)")
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
    if args.admin_command == "restore":  # before anything opens the store: it must be closed
        return _restore(data_dir, Path(args.backup))
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
        with store.group():  # the change and its audit entry: one commit
            previous = store.worker(args.worker_id)
            worker = add_worker(
                store, args.worker_id, name=args.name, role=args.role, grids=grids, department=args.department,
                all_grids=args.all_grids,
            )  # fmt: skip
            before, after = (previous.to_dict() if previous else None), worker.to_dict()
            record_admin_action(store, command, worker.worker_id, before=before, after=after, now=now)
        print(json.dumps(worker.to_dict(), ensure_ascii=False))
    elif command == "enroll-code":
        config = load_config(data_dir)
        with store.group():
            code = create_code(store, args.worker_id, now, config.enrollment_code_ttl_s)
            after = {"code_hash": code_hash(code), "expires_at": now + config.enrollment_code_ttl_s}
            record_admin_action(store, command, args.worker_id, after=after, now=now)  # never the code itself
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
        with store.group():
            device = store.device(args.device_id)
            if device is None or not revoke_device(store, args.device_id, now):
                raise ValueError(f"no active device {args.device_id!r}")
            before = {"worker_id": device.worker_id, "name": device.name, "revoked_at": None}
            record_admin_action(store, command, args.device_id, before=before, after={**before, "revoked_at": now},
                                now=now)  # fmt: skip
        print(f"revoked {args.device_id}")
    elif command == "backup":
        store.backup(Path(args.dest))
        after = {"bytes": Path(args.dest).stat().st_size}
        record_admin_action(store, command, args.dest, after=after, now=now)
        print(f"backed up the store to {args.dest} ({Path(args.dest).stat().st_size:,} bytes)")
    elif command.startswith("import-"):
        with store.group():
            doc_name = command.removeprefix("import-")
            before = document_summary(store.catalogue_doc(doc_name))
            _import(store, command, Path(args.file))
            after = {"file": args.file, **(document_summary(store.catalogue_doc(doc_name)) or {})}
            record_admin_action(store, command, doc_name, before=before, after=after, now=now)
    elif command == "conflicts":
        rows = [
            [c["case_id"], c["case_no"], c["conflict"]["conflict_id"], c["conflict"]["field"],
             json.dumps(c["conflict"]["kept"], ensure_ascii=False), json.dumps(c["conflict"]["proposed"], ensure_ascii=False)]
            for c in list_conflicts(store, ADMIN_ACTOR)
        ]  # fmt: skip
        _table("open conflicts", ["case", "case no", "conflict", "field", "kept", "proposed"], rows)
    elif command == "audit":
        _list_audit(args, store)
    elif command == "resolve":
        with store.group():
            stored = store.case(args.case_id)
            city = load_city(store)
            case = resolve_conflict(
                store, city, ADMIN_ACTOR, CLI_DEVICE, args.case_id, args.conflict_id, args.choice, now
            )
            before = {"conflict_id": args.conflict_id, "version": stored.version if stored else None}
            after = {"conflict_id": args.conflict_id, "choice": args.choice, "version": case["version"]}
            record_admin_action(store, command, args.case_id, before=before, after=after, now=now)
        print(f"case {case['case_no']} now at version {case['version']}")
    return 0


def _list_audit(args: argparse.Namespace, store: Store) -> None:
    offset = load_city(store).calendar.utc_offset_minutes
    since, until = _instant(args.since, offset), _instant(args.until, offset)
    entries = store.admin_actions(action=args.action, target=args.target, since=since, until=until)
    if args.json:
        for e in entries:
            print(json.dumps({"seq": e.seq, "at": e.at, "os_user": e.os_user, "action": e.action, "target": e.target,
                              "before": e.before, "after": e.after}, ensure_ascii=False))  # fmt: skip
        return
    rows = [
        [str(e.seq), iso_time(e.at, offset) or "", e.os_user, e.action, e.target,
         json.dumps(e.before, ensure_ascii=False), json.dumps(e.after, ensure_ascii=False)]
        for e in entries
    ]  # fmt: skip
    _table("admin audit", ["#", "when", "OS user", "action", "target", "before", "after"], rows)


def _instant(text: str | None, utc_offset_minutes: int) -> int | None:
    """A day (its midnight in the city's zone) or an ISO 8601 time (no offset: the city's zone)."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a day or time (YYYY-MM-DD or ISO 8601): {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone(timedelta(minutes=utc_offset_minutes)))
    return int(moment.timestamp())


def _restore(data_dir: Path, backup: Path) -> int:
    from sync_server.store import DATABASE_FILE
    from sync_server.store.restore import restore_backup

    result = restore_backup(data_dir / DATABASE_FILE, backup, int(time.time()))
    store = open_store(data_dir)  # the restored store: its audit goes on from the backup's
    try:
        record_admin_action(store, "restore", str(backup), before={"incarnation": result.replaced},
                            after=result.to_dict())  # fmt: skip
    finally:
        store.close()
    print(f"restored {backup} as incarnation {result.incarnation} (change counter {result.change_seq:,})")
    if result.set_aside is not None:
        print(f"the store it replaced is kept as {result.set_aside}")
    print("start `serve`: phones pull again from zero and resend what the backup lacks")
    return 0


def _rotate(data_dir: Path) -> int:
    from sync_server.cli import CommandError, read_passphrase
    from sync_server.keys import KeyFileError, rotate_encryption_key

    try:
        before = {"encryption_key_id": load_public_keys(data_dir).encryption_key_id}
        keys = rotate_encryption_key(data_dir, read_passphrase())
    except KeyFileError as exc:
        raise CommandError(str(exc)) from None
    after = {"encryption_key_id": keys.public.encryption_key_id, "retired": len(keys.retired)}
    store = open_store(data_dir)
    try:
        record_admin_action(store, "rotate-keys", "encryption key", before=before, after=after)
    finally:
        store.close()
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
        after = {"forced": result.forced, "overdue": result.overdue}
        record_admin_action(services.store, "sweep", "backlog and deadlines", after=after)
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
