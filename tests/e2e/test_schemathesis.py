"""Property-based fuzz of the whole OpenAPI schema against the real server (schemathesis).

Every operation gets up to MAX_EXAMPLES schema-valid cases and as many schema-invalid ones,
sent with an admin token. No answer may be a 5xx, or break the documented status codes,
content types and response schemas. (schemathesis's negative_data_rejection check is left
out: the token added to every request undoes its "missing Authorization" mutations.) The
number of cases run is printed (run with -s to see it).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

MAX_EXAMPLES = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def fuzz(operation, mode: GenerationMode, headers: dict[str, str]) -> int:
    """Run one operation's cases in one generation mode; how many ran."""
    ran = 0

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        nonlocal ran
        case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)
        ran += 1

    with contextlib.suppress(Unsatisfiable):  # no schema-invalid input for this operation
        run()
    return ran


def test_no_input_breaks_the_api(start_server, tmp_path):
    tokens_file = tmp_path / "tokens.json"
    running = start_server(
        {"PROVLEDGER_TOKENS_FILE": str(tokens_file), "PROVLEDGER_SQL_TIMEOUT_S": "2"}
    )
    made = subprocess.run(
        [sys.executable, "-m", "provenance_ledger.query", "token", "create", "--scope", "admin"],
        env={**running.env, "PROVLEDGER_TOKENS_FILE": str(tokens_file)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    headers = {"Authorization": f"Bearer {made.stdout.strip()}"}
    schema = schemathesis.openapi.from_url(f"{running.url}/openapi.json", timeout=30)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5

    ran = {
        f"{operation.label} [{mode.value}]": fuzz(operation, mode, headers)
        for operation in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    }
    total = sum(ran.values())
    print(f"\nschemathesis: {total} cases over {len(operations)} operations")
    for label, count in sorted(ran.items()):
        print(f"  {count:4d}  {label}")
    assert total >= len(operations) * 5
