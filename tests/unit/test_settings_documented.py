"""Every PROVLEDGER_* variable the code reads is read in one place (ledger/settings.py) and is
documented in README.md's settings table, which lists none the code does not read."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from provenance_ledger.ledger.settings import VARIABLES

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("producers", "ledger", "query", "schemas")
NAME = re.compile(r"PROVLEDGER_[A-Z_]+")
# Modules that touch os.environ for what is not a setting, and why.
ENVIRONMENT_INPUTS = {
    "ledger/settings.py": "the edge: builds the settings",
    "producers/ci_context.py": "the CI provider's own variables (GITHUB_*, GITLAB_*, CI, ...)",
    "producers/gitproc.py": "hands the environment on to git",
    "producers/cli_hook.py": "USER_PROMPT, the payload a tool passes that way",
    "query/sql/pool.py": "hands the environment, less the settings, on to SQL workers",
}


def sources() -> dict[str, ast.Module]:
    return {
        path.relative_to(ROOT).as_posix(): ast.parse(path.read_text(), str(path))
        for folder in FOLDERS
        for path in sorted((ROOT / folder).rglob("*.py"))
    }


def names_in_strings(tree: ast.Module) -> set[str]:
    """Variable names in the module's string literals; ``PROVLEDGER_SQL_*`` names none."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found |= {name for name in NAME.findall(node.value) if not name.endswith("_")}
    return found


def readme_settings() -> set[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `PROVLEDGER_")]
    assert rows, "README.md has no settings table"
    return {name for row in rows for name in NAME.findall(row.split(" | ")[0])}


def test_every_variable_the_code_names_is_one_settings_reads():
    named = {path: names_in_strings(tree) for path, tree in sources().items()}
    unread = {path: sorted(found - set(VARIABLES)) for path, found in named.items()}
    assert {path: found for path, found in unread.items() if found} == {}


def test_readme_documents_exactly_the_variables_settings_reads():
    documented = readme_settings()
    assert sorted(set(VARIABLES) - documented) == [], "read but not in README's table"
    assert sorted(documented - set(VARIABLES)) == [], "in README's table but never read"


def test_only_settings_reads_the_environment():
    touching = {
        path
        for path, tree in sources().items()
        if any(
            isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv")
            for node in ast.walk(tree)
        )
    }
    assert sorted(touching - set(ENVIRONMENT_INPUTS)) == []
    for path, tree in sources().items():
        if path == "ledger/settings.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call | ast.Subscript | ast.Compare):
                text = ast.unparse(node)
                if "environ" in text or "getenv" in text:
                    assert not NAME.search(text), f"{path} reads a setting itself: {text}"
