"""`provledger emit --data` reads JSON with the ledger's parser: hostile data is a usage error
naming the problem, never a traceback (a sibling of issue 12, item 1)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from provenance_ledger.query.cli.main import cli


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ('{"x": ' + "[" * 5000 + "]" * 5000 + "}", "deeper than 64"),
        ('{"x": ' + "9" * 5000 + "}", "number too large"),
        ('{"x": NaN}', "NaN is not a JSON number"),
    ],
)
def test_hostile_data_is_a_usage_error(data: str, says: str, tmp_path) -> None:
    env = {"PROVLEDGER_KAFKA_BOOTSTRAP": "127.0.0.1:1", "PROVLEDGER_SPOOL_DIR": str(tmp_path)}
    result = CliRunner().invoke(cli, ["emit", "incident.resolved", "--data", data], env=env)
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert not isinstance(result.exception, RecursionError | ValueError)
