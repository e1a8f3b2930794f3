"""A case's problems (refused changes, conflicts) as words in the app's language."""

from __future__ import annotations

from mobile.app.i18n import Translator
from mobile.core.views import Problem
from shared.errors import CATALOGUE


def problem_text(problem: Problem, tr: Translator) -> str:
    """A refused op reads "“Approve closure” was refused: <catalogue message>"; other problems use
    the core's own bilingual sentence."""
    if problem.kind == "rejected":
        if problem.code in CATALOGUE:
            message = tr.error(problem.code or "")
        else:
            message = problem.message_zh if tr.zh else problem.message
        return tr.t("case.rejected_op", action=op_label(problem.op_kind, tr), message=message)
    return problem.message_zh if tr.zh else problem.message


def op_label(op_kind: str, tr: Translator) -> str:
    """An op kind ("transition:close", "note", "create"…) as the name of what the person did."""
    kind = op_kind.split(":", 1)[-1] if ":" in op_kind else op_kind
    kind = {
        "add_note": "note",
        "note": "note",
        "add_photo": "photo",
        "photo": "photo",
        "resolve_conflict": "resolve",
    }.get(kind, kind)
    return tr.action(kind)
