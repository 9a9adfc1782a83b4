"""commit_facts, the copy of changes / change_ai / reviews / merges that suspects reads by
commit: it must say exactly what those tables say, and a ledger file written before the
table existed gets it filled when opened for writing."""

from __future__ import annotations

from pathlib import Path

from provenance_ledger.ledger.store import Ledger
from tests.support.provstory import IMPACT, Story, person, sha, write_direct

# Each base table's rows as commit_facts spells them.
FROM_BASE = """
SELECT 'authored', repo, commit, author_id, authored_at, NULL, NULL, message, event_seq
FROM changes
UNION ALL SELECT 'assisted', repo, commit, NULL, NULL, tool, NULL, NULL, event_seq FROM change_ai
UNION ALL SELECT 'reviewed', repo, commit, reviewer_id, reviewed_at, NULL, decision, NULL,
                 event_seq FROM reviews
UNION ALL SELECT 'merged', repo, commit, NULL, merged_at, merged_commit, NULL, NULL, event_seq
FROM merges
ORDER BY ALL
"""
FACTS = """
SELECT fact, repo, commit, person_id, fact_at,
       CASE fact WHEN 'assisted' THEN tool ELSE merged_commit END, decision, message, event_seq
FROM commit_facts ORDER BY ALL
"""


def _story() -> Story:
    story = Story()
    story.change(1, "ann@acme.example", -120, ai=[{"tool": "copilot", "mode": "agent"}])
    story.change(2, "bob@acme.example", -110)
    story.review(1, "cid@acme.example", -100)
    story.review(2, "cid@acme.example", -95, decision="changes_requested")
    merge = {"repo": "shop/checkout", "commit": sha(3), "commits": [sha(1), sha(2)]}
    story.add("change.merged", {**merge, "merged_by": person("cid@acme.example")}, "m-3", -90)
    story.deploy("d-1", "checkout", "prod", -60, commits=[sha(3)])
    return story


def test_commit_facts_say_what_the_base_tables_say(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        write_direct(ledger, _story().events)
        cur = ledger.cursor()
        facts = cur.execute(FACTS).fetchall()
        assert {row[0] for row in facts} == {"authored", "assisted", "reviewed", "merged"}
        assert facts == cur.execute(FROM_BASE).fetchall()
    finally:
        ledger.close()


def test_a_file_written_without_commit_facts_gets_them_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    ledger = Ledger.open(path, migrate=True)
    write_direct(ledger, _story().events)
    expected = ledger.cursor().execute(FACTS).fetchall()
    # What an older provledger left: the base tables, no commit_facts rows.
    ledger.cursor().execute("DELETE FROM commit_facts")
    ledger.close()

    reopened = Ledger.open(path, migrate=True)
    try:
        assert reopened.cursor().execute(FACTS).fetchall() == expected
        # And the writer goes on from there without copying anything twice.
        later = Story(IMPACT)
        later.change(9, "dee@acme.example", -30)
        write_direct(reopened, later.events)
        cur = reopened.cursor()
        assert cur.execute(FACTS).fetchall() == cur.execute(FROM_BASE).fetchall()
        assert len(cur.execute(FACTS).fetchall()) == len(expected) + 1
    finally:
        reopened.close()


def test_the_rows_of_one_event_keep_the_events_order(tmp_path: Path) -> None:
    """A merge's commits and a change's AI tools share one event seq; the copy keeps them in
    the event's order (readers break ties by the row's place), so two files written alike
    hold them alike."""
    brought_in = [sha(n) for n in range(100, 160)]
    tools = [{"tool": f"tool-{n:02}", "mode": "agent"} for n in range(12)]
    story = Story()
    story.change(99, "ann@acme.example", -120, ai=tools)
    merge = {"repo": "shop/checkout", "commit": sha(98), "commits": brought_in}
    story.add("change.merged", merge, "m-98", -90)
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        write_direct(ledger, story.events)
        rows = ledger.cursor().execute(
            "SELECT fact, tool, merged_commit FROM commit_facts ORDER BY rowid"
        )
        facts = rows.fetchall()
    finally:
        ledger.close()
    assert [tool for fact, tool, _ in facts if fact == "assisted"] == [t["tool"] for t in tools]
    assert [merged for fact, _, merged in facts if fact == "merged"] == brought_in
