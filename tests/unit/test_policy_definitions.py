"""The definitions every reader shares come from one place (query/policy/definitions.py):
the event schema's levels, the packaged policy file and the ledger's policy_definitions row
(what the SQL views join before a server records its policy) all say what it says."""

from __future__ import annotations

from typing import get_args

import pytest

from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.policy.definitions import (
    CONTRACT_SENIOR_AT_LEAST,
    CONTRACT_SENIORITY,
    LEVELS,
    Seniority,
)
from provenance_ledger.query.policy.gate import load_policy
from provenance_ledger.query.policy.record import definitions_row, record
from provenance_ledger.schemas.events import Level


def test_the_levels_are_the_event_schemas_lowest_first():
    assert LEVELS == get_args(Level) == ("junior", "mid", "senior", "principal")


def test_senior_by_default_is_senior_or_principal_as_the_contract_says():
    assert CONTRACT_SENIORITY.levels == ("senior", "principal")
    assert [CONTRACT_SENIORITY.is_senior(level) for level in (*LEVELS, None)] == [
        False,
        False,
        True,
        True,
        False,
    ]
    assert load_policy().senior_at_least == CONTRACT_SENIOR_AT_LEAST


def test_an_unknown_level_is_no_threshold():
    with pytest.raises(ValueError, match="not a level"):
        Seniority("boss")


def definitions(ledger: Ledger) -> list[list[object]]:
    rows = ledger.cursor().execute("SELECT * FROM policy_definitions").fetchall()
    return [list(row) for row in rows]


def test_a_new_ledger_holds_the_contract_definitions_until_a_server_records_its_own():
    ledger = Ledger.open(":memory:", migrate=True)
    try:
        assert definitions(ledger) == [definitions_row(CONTRACT_SENIORITY, None)]
        record(ledger, Seniority("principal"), None)
        assert definitions(ledger) == [definitions_row(Seniority("principal"), None)]
        senior_levels = ledger.cursor().execute("SELECT senior_levels FROM policy_definitions")
        assert senior_levels.fetchall() == [(["principal"],)]
    finally:
        ledger.close()
