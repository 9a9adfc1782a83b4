"""The test tiers share code only through tests/support: no test file imports another tier, a
test module or a conftest (fixtures reach tests through pytest, never through an import)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]


def forbidden_imports(source: str) -> list[str]:
    """Each import in ``source`` of test code other than tests.support, as written."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                found.append(f"from {'.' * node.level}{node.module or ''} import ...")
                continue
            module = node.module or ""
            if module == "tests":
                found += [f"from tests import {a.name}" for a in node.names if a.name != "support"]
            elif _is_test_code(module):
                found.append(f"from {module} import ...")
        elif isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if _is_test_code(a.name)]
    return found


def _is_test_code(module: str) -> bool:
    parts = module.split(".")
    if parts[0] == "tests":
        return len(parts) > 1 and parts[1] != "support"
    return parts[0] == "conftest" or parts[0].startswith("test_")


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        ("from tests.e2e.conftest import server_env", True),
        ("def f():\n    from tests.e2e.test_hostile_sql import Feeder", True),
        ("import tests.integration.test_verify", True),
        ("from tests import e2e", True),
        ("from .test_other import X", True),
        ("from conftest import settings", True),
        ("import test_sql_attacks", True),
        ("from tests.support.servers import free_port", False),
        ("from tests.support import eventmix", False),
        ("from tests import support", False),
        ("from provenance_ledger.query.sql import guard", False),
        ("import pytest", False),
    ],
)
def test_the_check_tells_test_code_from_support(source: str, caught: bool) -> None:
    assert bool(forbidden_imports(source)) is caught


def test_no_test_file_imports_another_tier_or_a_test_module() -> None:
    checked = sorted(TESTS.rglob("*.py"))
    assert len(checked) > 50, checked  # the walk found the suite, not an empty folder
    offenders = {
        str(path.relative_to(TESTS)): bad
        for path in checked
        if (bad := forbidden_imports(path.read_text()))
    }
    assert offenders == {}, "move what they share into tests/support"
