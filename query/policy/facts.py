"""Gather what the policy gate judges from the ledger (query/policy/gate.py judges it).

Checking a commit means: the change authored as that commit and, when it is a merge
commit, the changes the merge brought in; plus the agent actions taken in the AI sessions
that wrote those changes (an agent that wrote the code and also dropped a table in the same
session is part of how the commit came to be). Checking an agent action means that action.
"""

from __future__ import annotations

from typing import Any

import duckdb

from provenance_ledger.query.policy.gate import ActionFacts, ChangeFacts
from provenance_ledger.query.policy.levels import load_levels
from provenance_ledger.query.readmodels.incidents import in_list, rows_as_dicts


def commit_known(cur: duckdb.DuckDBPyConnection, repo: str, commit: str) -> bool:
    row = cur.execute(
        "SELECT EXISTS (SELECT 1 FROM changes WHERE repo = ? AND commit = ?) "
        "OR EXISTS (SELECT 1 FROM merges WHERE repo = ? AND commit = ?)",
        [repo, commit, repo, commit],
    ).fetchone()
    return bool(row and row[0])


def commit_facts(
    cur: duckdb.DuckDBPyConnection, repo: str, commit: str
) -> tuple[list[ChangeFacts], list[ActionFacts]]:
    merged = [
        row[0]
        for row in cur.execute(
            "SELECT DISTINCT merged_commit FROM merges WHERE repo = ? AND commit = ? "
            "ORDER BY merged_commit",
            [repo, commit],
        ).fetchall()
    ]
    commits = [commit, *[sha for sha in merged if sha != commit]]
    authored = rows_as_dicts(
        cur.execute(
            "SELECT commit, author_id, authored_at FROM changes WHERE repo = ? AND commit IN "
            f"{in_list(commits)} QUALIFY row_number() OVER "
            "(PARTITION BY commit ORDER BY event_seq) = 1 ORDER BY commit",
            [repo, *commits],
        )
    )
    assists = _grouped(
        cur,
        "SELECT commit, tool, model, mode, lines, session FROM change_ai WHERE repo = ? AND "
        f"commit IN {in_list(commits)} ORDER BY event_seq",
        [repo, *commits],
    )
    reviews = _grouped(
        cur,
        "SELECT commit, reviewer_id AS reviewer, decision, reviewed_at FROM reviews "
        f"WHERE repo = ? AND commit IN {in_list(commits)} ORDER BY reviewed_at, event_seq",
        [repo, *commits],
    )
    people = [a["author_id"] for a in authored]
    people += [r["reviewer"] for rs in reviews.values() for r in rs]
    levels = load_levels(cur, people)
    changes = []
    for a in authored:
        revs = tuple(
            {**r, "reviewer_level": levels.at(r["reviewer"], r["reviewed_at"])}
            for r in reviews.get(a["commit"], [])
        )
        changes.append(
            ChangeFacts(
                repo=repo,
                commit=a["commit"],
                author=a["author_id"],
                author_level=levels.at(a["author_id"], a["authored_at"]),
                ai=tuple(assists.get(a["commit"], [])),
                reviews=revs,
            )
        )
    sessions = sorted({ai["session"] for c in changes for ai in c.ai if ai.get("session")})
    return changes, _actions(cur, f"session IN {in_list(sessions)}", sessions)


def action_facts(cur: duckdb.DuckDBPyConnection, event_id: str) -> list[ActionFacts]:
    return _actions(cur, "event_id = ?", [event_id])


def _actions(cur: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> list[ActionFacts]:
    rows = rows_as_dicts(
        cur.execute(
            "SELECT event_id, action, destructive, acted_at, authorized_by_id, session "
            f"FROM agent_actions WHERE {where} ORDER BY acted_at, event_seq",
            params,
        )
    )
    levels = load_levels(cur, [r["authorized_by_id"] for r in rows])
    return [
        ActionFacts(
            event_id=r["event_id"],
            action=r["action"],
            destructive=r["destructive"],
            acted_at=r["acted_at"],
            authorized_by=r["authorized_by_id"],
            authorized_level=levels.at(r["authorized_by_id"], r["acted_at"]),
            session=r["session"],
        )
        for r in rows
    ]


def _grouped(
    cur: duckdb.DuckDBPyConnection, sql: str, params: list[Any]
) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows_as_dicts(cur.execute(sql, params)):
        grouped.setdefault(row.pop("commit"), []).append(row)
    return grouped
