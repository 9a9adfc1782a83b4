"""schemas/ imports downward only: codec (the dispatch) uses avro, never the other way round,
and no import hides inside a function (where it could mask a cycle)."""

from __future__ import annotations

import ast
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

from provenance_ledger import schemas

PACKAGE = "provenance_ledger.schemas"
FOLDER = Path(schemas.__file__).resolve().parent


def _imported(node: ast.Import | ast.ImportFrom) -> set[str]:
    """The schemas modules an import statement names."""
    if isinstance(node, ast.Import):
        names = {alias.name for alias in node.names}
    elif node.module == PACKAGE:
        names = {f"{PACKAGE}.{alias.name}" for alias in node.names}
    else:
        names = {node.module or ""}
    return {name.removeprefix(f"{PACKAGE}.") for name in names if name.startswith(f"{PACKAGE}.")}


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(FOLDER.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
        graph[path.stem] = set().union(*(_imported(node) for node in imports))
    return graph


def test_no_schemas_module_imports_inside_a_function() -> None:
    deferred = []
    for path in sorted(FOLDER.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        top = {id(node) for node in tree.body}
        deferred += [
            f"{path.name}:{node.lineno}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top
        ]
    assert deferred == []


def test_the_schemas_import_graph_has_no_cycle() -> None:
    graph = _graph()
    assert graph["codec"] >= {"avro", "decoded"}
    try:
        list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise AssertionError(f"import cycle in schemas/: {exc.args[1]}") from exc


def test_avro_does_not_load_the_codec() -> None:
    script = f"import sys, {PACKAGE}.avro; print('{PACKAGE}.codec' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"
