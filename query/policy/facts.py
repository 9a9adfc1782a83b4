"""Gather what the policy gate judges from the ledger (query/policy/gate.py judges it).

Checking a commit means: the change authored as that commit and, when it is a merge
commit, the changes the merge brought in; plus the agent actions taken in the AI sessions
that wrote those changes (an agent that wrote the code and also dropped a table in the same
session is part of how the commit came to be). Checking an agent action means that action;
checking a configuration change means that change, with the commit it was applied from.
"""

from __future__ import annotations

from typing import Any

import duckdb

from provenance_ledger.query.policy.definitions import Seniority
from provenance_ledger.query.policy.gate import ActionFacts, ConfigFacts
from provenance_ledger.query.policy.levels import load_levels
from provenance_ledger.query.readmodels.changes import change_details
from provenance_ledger.query.readmodels.commitfacts import CommitFacts
from provenance_ledger.query.readmodels.incidents import in_list, rows_as_dicts, rows_by_key


def commit_known(cur: duckdb.DuckDBPyConnection, repo: str, commit: str) -> bool:
    """Whether a change.authored or change.merged in ``repo`` names the commit."""
    return any(
        fact["repo"] == repo and fact["fact"] in ("authored", "merged")
        for fact in _facts_of(cur, commit)
    )


def _facts_of(cur: duckdb.DuckDBPyConnection, commit: str) -> list[dict[str, Any]]:
    """The commit's ``commit_facts`` rows: that table holds what changes and merges say, under
    one index. The query names the commit alone: with the repo or kind in it too, DuckDB
    scans the table instead of using the index (~30 ms against ~1 ms at 1M events)."""
    return rows_by_key(cur, "commit_facts", "commit", [commit], "fact, repo, merged_commit")


def commit_facts(
    cur: duckdb.DuckDBPyConnection, repo: str, commit: str, seniority: Seniority
) -> tuple[list[CommitFacts], list[ActionFacts]]:
    """The authored changes to judge (in commit order) and the actions of their AI sessions."""
    merged = [
        fact["merged_commit"]
        for fact in _facts_of(cur, commit)
        if fact["fact"] == "merged" and fact["repo"] == repo
    ]
    commits = sorted({commit, *merged})
    known = change_details(cur, [(repo, sha) for sha in commits], seniority)
    changes = [known[sha] for sha in commits if known[sha].known]
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


def config_change_facts(
    cur: duckdb.DuckDBPyConnection, event_id: str, seniority: Seniority
) -> list[ConfigFacts]:
    """The ``config.changed`` events with this id (one, unless sources reuse ids).

    Who authorized it is the event's ``authorized_by`` (a person, as on ``agent.action``):
    the contract's ``config.changed`` has no such field, so it is read from the stored
    event, where extra fields are kept."""
    rows = rows_as_dicts(
        cur.execute(
            "SELECT c.event_id, c.kind, c.key, c.target_environment, c.actor_id, c.actor_kind, "
            "c.ai_tools, c.repo, c.commit, c.changed_at, "
            "lower(e.data->>'$.authorized_by.id') AS authorized_by "
            "FROM config_changes c JOIN events e ON e.seq = c.event_seq "
            "WHERE c.event_id = ? ORDER BY c.changed_at, c.event_seq",
            [event_id],
        )
    )
    levels = load_levels(cur, [r[k] for r in rows for k in ("actor_id", "authorized_by")])
    pairs = [(r["repo"], r["commit"]) for r in rows if r["commit"]]
    applied = change_details(cur, pairs, seniority) if pairs else {}
    return [
        ConfigFacts(
            event_id=r["event_id"],
            kind=r["kind"],
            changed_at=r["changed_at"],
            key=r["key"],
            environment=r["target_environment"],
            actor=r["actor_id"],
            actor_kind=r["actor_kind"],
            actor_level=levels.at(r["actor_id"], r["changed_at"]),
            ai_tools=tuple(r["ai_tools"] or ()),
            authorized_by=r["authorized_by"],
            authorized_level=levels.at(r["authorized_by"], r["changed_at"]),
            applied_from=applied.get(r["commit"]) if r["commit"] else None,
        )
        for r in rows
    ]
