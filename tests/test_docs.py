"""The docs describe the code: every error code and workflow action is in docs/protocol.md."""

from __future__ import annotations

from pathlib import Path

from shared.errors import CATALOGUE
from shared.ops import KINDS
from shared.workflow import TRANSITIONS

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_error_code_is_documented_with_its_status():
    text = (DOCS / "protocol.md").read_text(encoding="utf-8")
    for code, spec in CATALOGUE.items():
        assert f"| `{code}` | {spec.status} |" in text, code


def test_every_workflow_action_and_op_kind_is_documented():
    text = (DOCS / "protocol.md").read_text(encoding="utf-8")
    for action, row in TRANSITIONS.items():
        assert f"| `{action}` | {row.zh} |" in text, action
    for kind in KINDS:
        assert f"| `{kind}` |" in text, kind


def test_every_test_named_in_sync_invariants_exists():
    import re

    root = DOCS.parent
    text = (DOCS / "sync-invariants.md").read_text(encoding="utf-8")
    for path, name in re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?`", text):
        source = root / path
        assert source.is_file(), path
        if name:
            assert f"def {name}(" in source.read_text(encoding="utf-8"), f"{path}::{name}"
