"""`gridsync-server admin api-key …` and `admin public-text …`: the Open311 side of the admin CLI.

Keys are for the city's own channels (the 12345 hotline, a citizen app) that file service requests
(`POST /open311/v2/requests`). A key is shown once, when issued; the store keeps its hash, who issued
and revoked it and when (`admin api-key list` shows them). A public text replaces a case's
description in the public feed; every edit is kept with the text it replaced, the supervisor who
asked for it, the OS user who typed it, and when (`admin public-text --history`). Issuing, revoking
and every public-text edit are also entries of the admin audit (`admin audit`), in the same commit
as the change; a key's secret is never in it.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from shared.errors import GridsyncError
from shared.model import Role
from sync_server.admin_audit import os_user, record_admin_action
from sync_server.open311_intake import DEFAULT_RATE_PER_MINUTE, issue_key, revoke_key, set_public_text
from sync_server.store import Store

COMMANDS = ("api-key", "public-text")


def add_open311_commands(sub: Any) -> None:
    keys = sub.add_parser("api-key", help="Open311 API keys that may file service requests")
    actions = keys.add_subparsers(dest="key_command", required=True)
    issue = actions.add_parser("issue", help="a new key (shown once)")
    issue.add_argument("name", help="who holds it, e.g. '12345 hotline'")
    issue.add_argument("--rate", type=int, default=DEFAULT_RATE_PER_MINUTE, help="requests a minute")
    actions.add_parser("revoke", help="refuse a key from now on").add_argument("key_id")
    actions.add_parser("list", help="every key, issued and revoked")
    from sync_server.cli_admin import accept_data_dir  # (cli_admin imports this module first)

    for parser in actions.choices.values():  # `--data-dir` after the action too, as people type it
        accept_data_dir(parser)
    text = sub.add_parser("public-text", help="the text the public feed shows for a case")
    text.add_argument("case", help="a case number (or case id)")
    text.add_argument("text", nargs="?", help="the new public text")
    text.add_argument("--by", help="the supervisor who asked for it (a worker id)")
    text.add_argument("--history", action="store_true", help="list the case's edits instead")


def run_open311_command(args: argparse.Namespace, store: Store, now: int | None = None) -> int:
    now = int(time.time()) if now is None else now
    if args.admin_command == "api-key":
        if args.key_command == "issue":
            with store.group():  # the key and its audit entry: one commit
                issued = issue_key(store, args.name, args.rate, now)
                after = {"name": issued.record.name, "rate_per_minute": issued.record.rate_per_minute}
                record_admin_action(store, "api-key.issue", issued.record.key_id, after=after, now=now)
            print(f"key id  {issued.record.key_id}")
            print(f"api_key {issued.api_key}")
            print("give the api_key to its holder now: it is not stored and cannot be shown again")
        elif args.key_command == "revoke":
            with store.group():
                revoked = revoke_key(store, args.key_id, now)
                after = {"revoked_at": revoked.revoked_at}
                record_admin_action(store, "api-key.revoke", revoked.key_id, before={"revoked_at": None}, after=after,
                                    now=now)  # fmt: skip
            print(f"revoked {revoked.key_id} ({revoked.name})")
        else:
            for key in store.api_keys():
                print(json.dumps({"key_id": key.key_id, "name": key.name, "rate_per_minute": key.rate_per_minute,
                                  "issued_at": key.issued_at, "issued_by": key.issued_by,
                                  "revoked_at": key.revoked_at, "revoked_by": key.revoked_by}, ensure_ascii=False))  # fmt: skip
        return 0
    if args.history:
        case = store.case_by_number(args.case) or store.case(args.case)
        if case is None:
            raise GridsyncError("case.unknown", f"no case {args.case!r}")
        for edit in store.public_text_edits(case.case_id):
            print(json.dumps({"text": edit.text, "before": edit.before, "edited_by": edit.edited_by,
                              "edited_at": edit.edited_at}, ensure_ascii=False))  # fmt: skip
        return 0
    if not args.text or not args.by:
        raise GridsyncError("request.malformed", "public-text needs the text and --by <supervisor id>")
    supervisor = store.worker(args.by)
    if supervisor is None or supervisor.role not in (Role.SUPERVISOR, Role.ADMIN):
        raise GridsyncError("case.not_allowed", f"{args.by!r} is not a supervisor")
    with store.group():
        found = store.case_by_number(args.case) or store.case(args.case)
        before = None if found is None else store.public_texts([found.case_id]).get(found.case_id)
        case = set_public_text(
            store, args.case, args.text, f"{supervisor.worker_id} (os user {os_user()})", now
        )
        after = {"text": args.text.strip(), "by": supervisor.worker_id}
        record_admin_action(store, "public-text", case.case_no or case.case_id, before={"text": before}, after=after,
                            now=now)  # fmt: skip
    print(f"case {case.case_no or case.case_id}: public text set")
    return 0
