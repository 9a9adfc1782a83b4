"""The projection as the writer takes it: one list per column, lined up with the named rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from provenance_ledger.ledger.projection import TABLES, Accepted, project, project_columns
from provenance_ledger.schemas import codec
from provenance_ledger.schemas.codec import DecodedEvent, validate_event
from provenance_ledger.schemas.events import DATA_MODELS
from tests.support import eventmix

EXAMPLES = Path(codec.__file__).resolve().parent / "examples"


def example(event_type: str) -> DecodedEvent:
    decoded = validate_event(json.loads((EXAMPLES / f"{event_type}.json").read_text()))
    assert isinstance(decoded, DecodedEvent), decoded
    return decoded


def test_columns_are_the_named_rows_transposed() -> None:
    accepted = [Accepted(seq, item) for seq, item in enumerate(eventmix.events(400, seed=11))]
    rows = project(accepted)
    columns = project_columns(accepted)
    assert set(columns) == set(rows) and len(rows) > 8
    for table, table_rows in rows.items():
        assert tuple(columns[table]) == TABLES[table]
        for name, values in columns[table].items():
            assert values == [row[name] for row in table_rows], (table, name)


@pytest.mark.parametrize("event_type", sorted(DATA_MODELS))
def test_every_type_fills_its_tables_columns(event_type: str) -> None:
    rows = project([Accepted(41, example(event_type))])
    assert rows
    for table, table_rows in rows.items():
        assert all(tuple(row) == TABLES[table] for row in table_rows)


def test_values_land_in_their_own_columns() -> None:
    deployed = example("dev.provledger.service.deployed.v1")
    authored = example("dev.provledger.change.authored.v1")
    columns = project_columns([Accepted(7, deployed), Accepted(8, authored)])
    deployment = {name: values[0] for name, values in columns["deployments"].items()}
    assert deployment == {
        "event_id": "0b6c1f3e-6a1d-4c7e-9a7b-000000000005",
        "event_source": "cd/argo/prod-eu",
        "service": "checkout",
        "environment": "prod",
        "region": "eu-west-1",
        "version": "2026.11.26-3",
        "repo": "acme/shop",
        "commit": "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
        "artifact": "pkg:oci/shop@sha256:5d41402abc4b2a76b9719d911017c592",
        "deployer_id": "argo-bot",
        "deployer_kind": "automation",
        "fleet_percent": 25.0,
        "deployed_at": datetime(2026, 11, 26, 11, tzinfo=UTC),
        "event_seq": 7,
    }
    # The head commit is listed in commits already: shipped once, not twice.
    assert columns["deployment_changes"] == {
        "deployment_seq": [7, 7],
        "repo": ["acme/shop", "acme/shop"],
        "commit": [
            "9f2c1e0b7a6d5c4b3a29181716151413121110ff",
            "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
        ],
    }
    change = {name: values[0] for name, values in columns["changes"].items()}
    assert change["author_id"] == "alice@acme.com" and change["author_name"] == "Alice"
    assert change["lines_added"] == 120 and change["lines_deleted"] == 14
    assert change["ai_assisted"] is True and change["event_seq"] == 8
    assert change["authored_at"] == datetime(2026, 11, 26, 8, 12, 44, tzinfo=UTC)
    assert columns["change_ai"]["tool"] == ["claude-code"]
    assert columns["change_ai"]["lines"] == [96]


def test_no_events_no_tables() -> None:
    assert project_columns([]) == {}
