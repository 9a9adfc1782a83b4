"""The per-file copy of people's levels that suspects reads: it must follow every new
registration, and never serve one ledger's people for another's."""

from __future__ import annotations

from pathlib import Path

from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.policy.levels import all_levels
from tests.support.provstory import IMPACT, Story, write_direct

ANN = "ann@acme.example"


def _registered(ledger: Ledger, level: str, minutes: float) -> None:
    story = Story()
    story.person(ANN, level, minutes)
    write_direct(ledger, story.events)


def test_the_kept_levels_follow_new_registrations(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        _registered(ledger, "mid", -1000)
        first = all_levels(ledger.cursor())
        assert first is not None
        assert first.at(ANN, IMPACT) == "mid"
        assert all_levels(ledger.cursor()) is first  # unchanged people: the same copy

        _registered(ledger, "senior", -10)
        again = all_levels(ledger.cursor())
        assert again is not first
        assert again.at(ANN, IMPACT) == "senior"
        assert again.at(ANN.upper(), IMPACT.replace(hour=1)) == "mid"
    finally:
        ledger.close()


def test_each_ledger_file_has_its_own_copy(tmp_path: Path) -> None:
    one = Ledger.open(tmp_path / "one.duckdb", migrate=True)
    two = Ledger.open(tmp_path / "two.duckdb", migrate=True)
    try:
        _registered(one, "junior", -100)
        _registered(two, "principal", -100)
        assert all_levels(one.cursor()).at(ANN, IMPACT) == "junior"
        assert all_levels(two.cursor()).at(ANN, IMPACT) == "principal"
    finally:
        one.close()
        two.close()


def test_an_in_memory_ledger_is_not_kept() -> None:
    ledger = Ledger.open(":memory:", migrate=True)
    try:
        _registered(ledger, "mid", -100)
        assert all_levels(ledger.cursor()) is None
    finally:
        ledger.close()
