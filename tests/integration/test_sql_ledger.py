"""Read-only SQL and snapshots on a real ledger file, locked down as `provledger serve` does."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from provenance_ledger.ledger import snapshot
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.sql import readonly as sql
from tests.support.provstory import Story, write_direct


def story() -> Story:
    s = Story()
    s.person("junior@shop.example", "junior")
    s.person("senior@shop.example", "senior")
    s.person("mid@shop.example", "mid")
    ai = [{"tool": "cursor", "model": "gpt-5", "mode": "agent", "lines": 40}]
    unreviewed = s.change(1, "junior@shop.example", -300, ai=ai)
    approved = s.change(2, "mid@shop.example", -290, ai=[{"tool": "copilot", "lines": 5}])
    s.review(2, "senior@shop.example", -200)
    s.change(3, "senior@shop.example", -280)
    s.deploy("dep-1", "checkout", "prod", -30, repo="shop/checkout", commits=[unreviewed, approved])
    s.deploy("dep-old", "checkout", "prod", -60 * 30, repo="shop/checkout", commits=[sha3()])
    s.action("act-1", "delete_environment", -20, destructive=True, authorized_by="mid@shop.example")
    s.incident("INC-1", ["checkout"])
    s.attribute("INC-1", "confirmed", 60, deployment="dep-1")
    return s


def sha3() -> str:
    return f"{3:040x}"


@pytest.fixture
def ledger(tmp_path: Path):
    opened = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    write_direct(opened, story().events)
    cursor = opened.cursor()
    sql.lock_down(cursor)
    cursor.close()
    yield opened
    opened.close()


def rows(ledger: Ledger, text: str, params: dict | None = None) -> list[dict]:
    result = sql.run(ledger.cursor(), text, params)
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def test_ai_changes_without_senior_approval(ledger):
    found = rows(ledger, "SELECT * FROM ai_changes_without_senior_approval")
    assert [(r["commit"][-1], r["author_level"], r["ai_tools"]) for r in found] == [
        ("1", "junior", ["cursor"])
    ]
    assert found[0]["violates_policy"] is True and found[0]["shipped"] is True


def test_deployments_with_changes(ledger):
    found = rows(
        ledger,
        "SELECT deployment_event_id, commit, ai_tools, senior_approved, failed "
        "FROM deployments_with_changes WHERE service = $service ORDER BY deployed_at, commit",
        {"service": "checkout"},
    )
    assert [(r["deployment_event_id"], r["commit"][-1]) for r in found] == [
        ("dep-old", "3"),
        ("dep-1", "1"),
        ("dep-1", "2"),
    ]
    assert [r["senior_approved"] for r in found] == [False, False, True]
    assert [r["failed"] for r in found] == [False, True, True]
    assert found[1]["ai_tools"] == ["cursor"]


def test_incident_and_agent_views(ledger):
    recent = rows(ledger, "SELECT incident, deployment_event_id FROM incident_recent_deployments")
    assert recent == [{"incident": "INC-1", "deployment_event_id": "dep-1"}]
    actions = rows(
        ledger,
        "SELECT event_id, authorized_by_level, senior_authorized FROM destructive_agent_actions",
    )
    assert actions == [
        {"event_id": "act-1", "authorized_by_level": "mid", "senior_authorized": False}
    ]
    usage = rows(
        ledger,
        "SELECT tool, changes, ai_lines, senior_approved_changes "
        "FROM ai_usage_by_tool ORDER BY tool",
    )
    assert usage == [
        {"tool": "copilot", "changes": 1, "ai_lines": 5, "senior_approved_changes": 1},
        {"tool": "cursor", "changes": 1, "ai_lines": 40, "senior_approved_changes": 0},
    ]


def test_the_ledger_still_writes_after_lock_down(ledger):
    before = ledger.counts()[0]
    extra = Story()
    extra.change(9, "mid@shop.example", -10)
    write_direct(ledger, extra.events)
    assert ledger.counts()[0] == before + 1
    assert rows(ledger, "SELECT count(*) AS n FROM changes") == [{"n": 4}]


def test_snapshot_is_one_instant_while_writes_go_on(ledger, tmp_path):
    reader = ledger.cursor()
    reader.execute("BEGIN TRANSACTION READ ONLY")
    reader.execute("SELECT count(*) FROM events").fetchall()  # the transaction's instant
    at_snapshot = ledger.counts()[0]
    later = Story()
    later.change(10, "mid@shop.example", -5)
    write_direct(ledger, later.events)  # committed after the snapshot's instant
    out = duckdb.connect(str(tmp_path / "copy.duckdb"))
    counts = snapshot.copy_database(reader, out)
    reader.execute("ROLLBACK")
    assert counts["events"] == at_snapshot == ledger.counts()[0] - 1
    assert out.execute("SELECT count(*) FROM changes").fetchall() == [(3,)]
    out.close()


def test_snapshot_file_opens_read_only_with_views_and_keys(ledger, tmp_path):
    dest = tmp_path / "snap.duckdb"
    info = snapshot.write_snapshot(ledger.cursor(), dest)
    assert info.events == ledger.counts()[0]
    copy = duckdb.connect(str(dest), read_only=True)
    try:
        assert copy.execute("SELECT count(*) FROM events").fetchall() == [(info.events,)]
        assert copy.execute(
            "SELECT count(*) FROM deployments_with_changes WHERE failed"
        ).fetchall() == [(2,)]
        keys = """SELECT constraint_type, constraint_column_names FROM duckdb_constraints()
            WHERE table_name = 'events' AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')"""
        assert copy.execute(keys).fetchall() == ledger.cursor().execute(keys).fetchall()
        assert copy.execute(keys).fetchall() == [("PRIMARY KEY", ["seq"])]
    finally:
        copy.close()
    with pytest.raises(snapshot.SnapshotError, match="already exists"):
        snapshot.write_snapshot(ledger.cursor(), dest)
