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


QUERY = "provenance_ledger.query"
# The command modules (cli_*.py) are the command line's front of their folder: they may use
# its shared printing and HTTP client, nothing else of query/. emit_git asks the API for the
# previous deployment through that client (a known exception, inside the function).
COMMAND_LINE_SHARED = {f"{QUERY}.cli.output", f"{QUERY}.cli.client"}
FRONT_ENDS = {"emit_git.py"}


def query_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
            if node.module == QUERY:
                modules = [f"{QUERY}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [m for m in modules if m == QUERY or m.startswith(f"{QUERY}.")]
    return found


def test_ledger_and_producers_do_not_depend_on_query():
    offenders = []
    for folder in ("ledger", "producers"):
        for path in sorted((ROOT / folder).glob("*.py")):
            front_end = path.name.startswith("cli_") or path.name in FRONT_ENDS
            allowed = COMMAND_LINE_SHARED if front_end else set()
            offenders += [
                f"{folder}/{path.name} {m}" for m in query_imports(path) if m not in allowed
            ]
    assert offenders == []
