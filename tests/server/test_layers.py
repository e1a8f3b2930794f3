"""The server's layers stay as drawn: no `mobile` imports, no SQL outside the store package."""

from __future__ import annotations

import ast
from pathlib import Path

SERVER = Path(__file__).resolve().parents[2] / "sync_server"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_server_never_imports_the_phone() -> None:
    for path in SERVER.rglob("*.py"):
        assert not any(n == "mobile" or n.startswith("mobile.") for n in _imports(path)), path


def test_only_the_store_package_touches_sqlite() -> None:
    for path in SERVER.rglob("*.py"):
        if "store" in path.relative_to(SERVER).parts:
            continue
        assert "sqlite3" not in _imports(path), path
        text = path.read_text("utf-8")
        assert "SELECT " not in text and "INSERT INTO" not in text, path


def test_routes_reach_the_store_only_through_services() -> None:
    for path in (SERVER / "api").glob("*.py"):
        assert not any(n.startswith("sync_server.store.sqlite") for n in _imports(path)), path
