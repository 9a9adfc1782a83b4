"""A commit's provenance and the policy gate read ``changes``, ``change_ai``, ``reviews`` and
``merges`` by commit through ``commit_facts`` (those four tables keep no index of their own):
they must answer exactly what the base tables say, for every commit and repo filter, and a
ledger file migrated by an older provledger loses the four indexes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.policy.facts import commit_facts, commit_known
from provenance_ledger.query.policy.inforce import seniority_in_force
from provenance_ledger.query.readmodels.provenance import commit_provenance, list_deployments
from tests.support.provstory import Story, person, sha, write_direct

DROPPED = {"changes_commit_idx", "change_ai_commit_idx", "reviews_commit_idx", "merges_commit_idx"}
REPOS = ("shop/checkout", "shop/cart")


def _story() -> Story:
    """Commits in two repos (one sha in both), AI help, reviews arriving out of time order
    (and one at the same instant as another), a merge bringing two commits in."""
    story = Story()
    story.change(1, "ann@acme.example", -300, ai=[{"tool": "copilot", "mode": "agent"}])
    story.change(1, "bob@acme.example", -290, repo="shop/cart", ai=[{"tool": "cursor"}])
    story.change(2, "bob@acme.example", -280, ai=[{"tool": "aider"}, {"tool": "codex"}])
    story.review(1, "cid@acme.example", -100)
    story.review(1, "dee@acme.example", -200, decision="changes_requested")
    story.review(1, "eve@acme.example", -100, decision="commented")
    story.review(1, "fay@acme.example", -150, repo="shop/cart")
    story.review(2, "cid@acme.example", -120)
    merge = {"repo": "shop/checkout", "commit": sha(3), "commits": [sha(1), sha(2)]}
    story.add("change.merged", {**merge, "merged_by": person("cid@acme.example")}, "m-3", -90)
    story.deploy("d-1", "checkout", "prod", -60, commits=[sha(3)])
    return story


def _from_base_tables(
    cur: duckdb.DuckDBPyConnection, commit: str, repo: str | None
) -> dict[str, list[tuple[Any, ...]]]:
    """What the provenance says of the commit, read from the base tables themselves."""

    def rows(select: str, table: str, order: str, origin: bool = True) -> list[tuple[Any, ...]]:
        # change_ai has no origin to show; joining it would also lose its rows' order within
        # one event (they share the event's seq).
        join = "JOIN events e ON e.seq = t.event_seq" if origin else ""
        return cur.execute(
            f"SELECT {select} FROM {table} t {join} "
            f"WHERE t.commit = ? AND (?::VARCHAR IS NULL OR t.repo = ?) ORDER BY {order}",
            [commit, repo, repo],
        ).fetchall()

    return {
        "authored": rows(
            "t.repo, t.commit, author_id, author_name, files, lines_added, lines_deleted, "
            "message, authored_at, event_id, e.origin",
            "changes",
            "t.event_seq",
        ),
        "ai": rows(
            "t.repo, tool, model, mode, lines, session", "change_ai", "t.event_seq", origin=False
        ),
        "reviews": rows(
            "t.repo, reviewer_id, reviewer_name, decision, change_ref, reviewed_at, event_id, "
            "e.origin",
            "reviews",
            "reviewed_at, t.event_seq",
        ),
    }


def _from_provenance(provenance: dict[str, Any] | None) -> dict[str, list[tuple[Any, ...]]]:
    if provenance is None:
        return {"authored": [], "ai": [], "reviews": []}
    authored_keys = (
        "repo", "commit", "author", "author_name", "files", "lines_added", "lines_deleted",
        "message", "authored_at", "event_id", "origin",
    )  # fmt: skip
    review_keys = (
        "repo", "reviewer", "reviewer_name", "decision", "change", "reviewed_at", "event_id",
        "origin",
    )  # fmt: skip
    return {
        "authored": [tuple(a[k] for k in authored_keys) for a in provenance["authored"]],
        "ai": [
            tuple(a[k] for k in ("repo", "tool", "model", "mode", "lines", "session"))
            for a in provenance["ai"]
        ],
        "reviews": [tuple(r[k] for k in review_keys) for r in provenance["reviews"]],
    }


def test_provenance_and_the_gate_say_what_the_base_tables_say(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        write_direct(ledger, _story().events)
        cur = ledger.cursor()
        compared = 0
        for n in (1, 2, 3, 4):
            for repo in (None, *REPOS):
                expected = _from_base_tables(cur, sha(n), repo)
                assert _from_provenance(commit_provenance(cur, sha(n), repo)) == expected
                compared += sum(len(rows) for rows in expected.values())
        # Every fact of the story was compared at least once.
        assert compared >= 3 + 4 + 5
        for repo in REPOS:
            for n in (1, 2, 3, 4):
                in_base = cur.execute(
                    "SELECT EXISTS (SELECT 1 FROM changes WHERE repo = ? AND commit = ?) "
                    "OR EXISTS (SELECT 1 FROM merges WHERE repo = ? AND commit = ?)",
                    [repo, sha(n), repo, sha(n)],
                ).fetchone()
                assert commit_known(cur, repo, sha(n)) is bool(in_base and in_base[0])
        # A deployment's changes: the merge commit it names and the two the merge brought in.
        (deployment,) = list_deployments(cur, "checkout", None, None, None, 10)
        assert [c["commit"] for c in deployment["changes"]] == [sha(3), sha(1), sha(2)]
        judged, _ = commit_facts(cur, "shop/checkout", sha(3), seniority_in_force())
        assert [c.commit for c in judged] == [sha(1), sha(2)]
        assert [len(c.reviews) for c in judged] == [3, 1]
    finally:
        ledger.close()


def test_reviews_come_in_review_order_whatever_their_arrival(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        write_direct(ledger, _story().events)
        provenance = commit_provenance(ledger.cursor(), sha(1), "shop/checkout")
        assert provenance is not None
        assert [r["reviewer"] for r in provenance["reviews"]] == [
            "dee@acme.example",
            "cid@acme.example",
            "eve@acme.example",
        ]
    finally:
        ledger.close()


def test_migrating_a_file_with_the_old_indexes_drops_them(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    ledger = Ledger.open(path, migrate=True)
    cur = ledger.cursor()
    for name in sorted(DROPPED):
        table = name.removesuffix("_commit_idx")
        cur.execute(f"CREATE INDEX {name} ON {table} (commit)")
    # As an older provledger left it: migrated with other SQL files.
    cur.execute("UPDATE ledger_schema SET digest = 'older'")
    ledger.close()
    ledger = Ledger.open(path, migrate=True)
    try:
        names = {
            row[0]
            for row in ledger.cursor().execute("SELECT index_name FROM duckdb_indexes()").fetchall()
        }
        assert names and not names & DROPPED
        assert "commit_facts_commit_idx" in names
    finally:
        ledger.close()
