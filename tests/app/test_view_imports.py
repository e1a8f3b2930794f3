"""The screens and the frame around them import in one direction: screens know `Screen` and the
`Frame` they are drawn in, never the shell; the shell knows no screen (the route table is handed to it
at start). Every import counts here, also those inside functions and under TYPE_CHECKING."""

from __future__ import annotations

import ast
from pathlib import Path

VIEWS = Path(__file__).resolve().parents[2] / "mobile" / "app" / "views"
PACKAGE = "mobile.app.views"


def view_imports() -> dict[str, set[str]]:
    """module -> the modules of mobile.app.views it imports, by any kind of import statement."""
    graph: dict[str, set[str]] = {}
    for path in sorted(VIEWS.glob("*.py")):
        name = f"{PACKAGE}.{path.stem}"
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == PACKAGE:
                    found |= {f"{PACKAGE}.{alias.name}" for alias in node.names}
                elif node.module.startswith(PACKAGE + "."):
                    found.add(node.module)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith(PACKAGE + ".")}
        graph[name] = found - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    out: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                out.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return out


def test_the_views_have_no_import_circle() -> None:
    assert cycles(view_imports()) == []


def test_the_shell_imports_no_screen_it_routes_to() -> None:
    imported = view_imports()[f"{PACKAGE}.shell"]
    assert imported <= {f"{PACKAGE}.screen", f"{PACKAGE}.widgets"}, imported
