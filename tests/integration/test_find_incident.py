"""find_incident on a real DuckDB file: the first opening wins, the earliest resolution
counts, and an emitter's extra region is returned when it is text."""

from __future__ import annotations

from pathlib import Path

from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.readmodels.incidents import find_incident
from tests.support.provstory import IMPACT, Story, write_direct


def test_first_opening_and_earliest_resolution_win(tmp_path: Path) -> None:
    story = Story()
    # A second opening (another tool, a re-page) arrives first but was opened later.
    story.add(
        "incident.opened",
        {"incident": "INC-7", "severity": "sev3", "services": ["search"]},
        "open-late",
        30,
    )
    story.incident("INC-7", ["checkout"], opened=5, region="eu-west-1")
    story.add("incident.resolved", {"incident": "INC-7"}, "res-late", 90)
    story.add("incident.resolved", {"incident": "INC-7"}, "res-early", 60)
    # A region that is not text is not a region (the projection keeps text only).
    story.incident("INC-8", ["search"], region={"name": "eu-west-1"})
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        write_direct(ledger, story.events)
        found = find_incident(ledger.cursor(), "INC-7")
        assert found is not None
        assert (found["severity"], found["services"], found["event_id"]) == (
            "sev1",
            ["checkout"],
            "open-INC-7",
        )
        assert found["resolved_at"] == story.at(60)
        assert found["region"] == "eu-west-1"
        assert found["impact_started_at"] == IMPACT
        assert find_incident(ledger.cursor(), "INC-404") is None
        not_text = find_incident(ledger.cursor(), "INC-8")
        assert not_text is not None and not_text["region"] is None
    finally:
        ledger.close()
