"""shared/ is pure: no clock reads, no file or network I/O, no randomness except key material.

import-linter (run by `make test`) keeps frameworks out; this walk catches calls it cannot see.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parent.parent / "shared"
FORBIDDEN_CALLS = {
    ("time", "time"),
    ("time", "monotonic"),
    ("time", "perf_counter"),
    ("time", "sleep"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("date", "today"),
    ("os", "getenv"),
}
FORBIDDEN_NAMES = {"open", "print", "input"}
FORBIDDEN_IMPORTS = {"random", "socket", "sqlite3", "subprocess", "pathlib", "threading", "asyncio"}


def modules() -> list[Path]:
    return sorted(SHARED.glob("*.py"))


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.name)
def test_shared_module_reads_no_clock_and_does_no_io(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if (
                isinstance(f, ast.Attribute)
                and isinstance(f.value, ast.Name)
                and (f.value.id, f.attr) in FORBIDDEN_CALLS
            ):
                problems.append(f"{f.value.id}.{f.attr}() at line {node.lineno}")
            if isinstance(f, ast.Name) and f.id in FORBIDDEN_NAMES:
                problems.append(f"{f.id}() at line {node.lineno}")
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            problems += [
                f"import {n} at line {node.lineno}" for n in names if n.split(".")[0] in FORBIDDEN_IMPORTS
            ]
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and (node.value.id, node.attr) == ("os", "environ")
        ):
            problems.append(f"os.environ at line {node.lineno}")
    assert not problems, f"{path.name} is not pure: {problems}"


def test_the_purity_check_would_catch_a_clock_read(tmp_path: Path) -> None:
    tree = ast.parse("import time\nx = time.time()\n")
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    f = calls[0].func
    assert isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
    assert (f.value.id, f.attr) in FORBIDDEN_CALLS
