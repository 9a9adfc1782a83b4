"""Code imports its own packages through the ``provenance_ledger`` namespace only: a bare
``import ledger`` works in a checkout (the folder is on sys.path) but not once installed."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BARE = {"producers", "ledger", "query", "schemas"}


def bare_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        found += [f"{path}:{node.lineno} {m}" for m in modules if m.split(".")[0] in BARE]
    return found


def test_no_module_imports_a_bare_top_level_name():
    offenders = [
        hit
        for folder in (*BARE, "tests", "bench")
        for path in (ROOT / folder).rglob("*.py")
        for hit in bare_imports(path)
    ]
    assert offenders == []
