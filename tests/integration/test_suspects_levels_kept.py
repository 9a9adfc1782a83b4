"""The suspects call reads people's version with the incident and asks for everyone's levels
only when it changed: a registration written between two calls must still count in the
second, and an unchanged people table must not be read again."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.policy import levels as policy_levels
from provenance_ledger.query.suspects.finder import suspects_for
from tests.support.provstory import Story, write_direct

ANN = "ann@acme.example"


def _action_suspect(ledger: Ledger) -> dict:
    found = suspects_for(ledger.cursor(), "INC-LV", timedelta(hours=24), 10)
    assert found is not None
    return next(s for s in found[1] if s["kind"] == "agent_action")


def _codes(suspect: dict) -> set[str]:
    return {reason["code"] for reason in suspect["reasons"]}


def test_a_registration_between_two_calls_counts_in_the_second(tmp_path: Path, monkeypatch) -> None:
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        story = Story()
        story.person(ANN, "mid", -1000)
        story.action("act-drop", "drop_table", -5, destructive=True, authorized_by=ANN)
        story.incident("INC-LV", ["checkout"])
        write_direct(ledger, story.events)
        reads = []

        def counted(cur):
            reads.append(cur)
            return policy_levels.all_levels(cur)

        monkeypatch.setattr("provenance_ledger.query.suspects.people.all_levels", counted)

        first = _action_suspect(ledger)
        assert first["action"]["authorized_level"] == "mid"
        assert "unauthorized_action" in _codes(first)
        assert _action_suspect(ledger) == first
        assert len(reads) == 1  # people unchanged: not asked again

        later = Story()
        later.person(ANN, "senior", -60)
        write_direct(ledger, later.events)
        second = _action_suspect(ledger)
        assert len(reads) == 2
        assert second["action"]["authorized_level"] == "senior"
        assert "unauthorized_action" not in _codes(second)
    finally:
        ledger.close()
