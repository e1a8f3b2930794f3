"""A supervisor's public text for a case, edited from her phone (`PUT /v1/cases/{id}/public-text`).

What Open311 publishes as a case's description is, once a supervisor has written one, her text
instead of the masked report (`sync_server.open311_privacy`). The admin CLI can set it too
(`gridsync-server admin public-text`, `sync_server.open311_intake.set_public_text`); both append to
the same record, `Store.public_text_edits`: the text, the text it replaced, who and when. This is
the route's service: the HTTP layer parses and serialises, the rules are here, SQL is in the store.

Who may edit: a supervisor (or an admin) who may see the case (`shared.rules.can_see`). A case
someone may not see does not exist for her: `case.unknown`, word for word the answer for a case id
that is nobody's, so the route does not tell whether a case exists. Someone who may see the case
but is no supervisor (its worker, a handler): `case.not_allowed`.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import GridsyncError
from shared.model import Actor, Role
from shared.ops import MAX_PUBLIC_TEXT, validate_text
from shared.rules import can_see
from sync_server.store.base import PublicTextEdit, Store

EDITORS = (Role.SUPERVISOR, Role.ADMIN)


@dataclass(frozen=True, slots=True)
class PublicText:
    """A case's public text as it now stands."""

    case_id: str
    case_no: str | None
    text: str
    edited_at: int


def clean_public_text(value: object) -> str:
    """The text as it is kept: the ops' text rules (valid Unicode, no NUL), surrounding blanks
    dropped, 1 to `MAX_PUBLIC_TEXT` characters. Refused: `request.malformed`."""
    try:
        text = validate_text(value, "text", MAX_PUBLIC_TEXT, required=True)
    except GridsyncError as refused:
        raise GridsyncError("request.malformed", refused.detail) from None
    return text.strip()


def edit_public_text(
    store: Store, actor: Actor, device_id: str, case_id: str, text: object, now: int
) -> PublicText:
    """Set the case's public text, as `actor` from `device_id`; in one transaction the case is read,
    her right to it checked, and the edit appended with the text it replaces. Refused (nothing kept):
    `request.malformed` (the text), `case.unknown` (no case, or one she may not see),
    `case.not_allowed` (she sees it but is no supervisor)."""
    cleaned = clean_public_text(text)
    with store.transaction() as tx:
        case = tx.load_cases([case_id]).get(case_id)
        if case is None or not can_see(case, actor):  # a case you may not see does not exist for you
            raise GridsyncError("case.unknown")
        if actor.role not in EDITORS:
            raise GridsyncError("case.not_allowed", "only a supervisor edits a case's public text")
        before = tx.public_texts([case_id]).get(case_id)
        tx.add_public_text(
            PublicTextEdit(case_id, cleaned, before, f"{actor.worker_id} (device {device_id})", now)
        )
    return PublicText(case.case_id, case.case_no, cleaned, now)
