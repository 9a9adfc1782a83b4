"""`provledger emit --data` reads JSON with the ledger's parser: hostile data is a usage error
naming the problem, never a traceback (a sibling of issue 12, item 1)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from provenance_ledger.producers.spool import read_records
from provenance_ledger.query.cli.main import cli
from provenance_ledger.schemas.codec import DecodedEvent, validate_event


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


def test_a_key_only_a_null_holds_is_spooled_without_it(tmp_path) -> None:
    """JSON may escape a lone surrogate, which no encoding takes; under a null the event's
    canonical form drops the key. Spooling it dumped the model, which keeps the key: the
    emit failed with exit 70 instead of spooling."""
    data = (
        '{"kind": "config", "target": {"service": "payments"}, "key": "timeout_ms",'
        ' "to": 500, "extra": {"\\ud800": null, "kept": 1}}'
    )
    env = {"PROVLEDGER_KAFKA_BOOTSTRAP": "127.0.0.1:1", "PROVLEDGER_SPOOL_DIR": str(tmp_path)}
    args = ["emit", "config.changed", "--data", data, "--timeout", "1"]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    (spooled,) = [event for path in tmp_path.glob("*.jsonl") for event in read_records(path)[0]]
    assert spooled.event["data"]["extra"] == {"kept": 1}
    assert isinstance(validate_event(spooled.event), DecodedEvent)
