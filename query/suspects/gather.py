"""The SQL that collects an incident's suspect candidates: the standing verdicts on it, the
deployments and agent actions in its window, and those outside it that a verdict confirms.
query/suspects/finder.py ranks what this finds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb

from provenance_ledger.query.readmodels.incidents import in_list, rows_as_dicts, rows_by_key
from provenance_ledger.query.suspects.ranking import IncidentFacts
from provenance_ledger.query.suspects.weights import PROD_NAMES

DEPLOYMENT_COLUMNS = (
    "event_id, event_seq, service, environment, region, version, repo, commit, artifact, "
    "deployer_kind, fleet_percent, deployed_at"
)
ACTION_COLUMNS = (
    "event_id, event_seq, tool, model, session, action, service, environment, resource, "
    "destructive, command, authorized_by_id, acted_at"
)


def verdicts_of(cur: duckdb.DuckDBPyConnection, incident: str) -> list[dict[str, Any]]:
    """The standing verdict per target of this incident: the latest attribution wins."""
    return rows_as_dicts(
        cur.execute(
            """
            SELECT verdict, by_id, target_kind, deployment_event_id, action_event_id, repo, commit
            FROM attributions WHERE incident = ?
            QUALIFY row_number() OVER (
                PARTITION BY target_kind, deployment_event_id, action_event_id, repo, commit
                ORDER BY attributed_at DESC, event_seq DESC) = 1
            """,
            [incident],
        )
    )


def _confirmed_ids(verdicts: list[dict[str, Any]], column: str) -> list[str]:
    return [v[column] for v in verdicts if v["verdict"] == "confirmed" and v[column] is not None]


def _environments(environment: str | None) -> list[str] | None:
    """The environment names that mean the incident's: case aside, and prod's synonyms."""
    if environment is None:
        return None
    name = environment.lower()
    return sorted(PROD_NAMES) if name in PROD_NAMES else [name]


def deployments_in_window(
    cur: duckdb.DuckDBPyConnection, facts: IncidentFacts, start: datetime
) -> list[dict[str, Any]]:
    envs = _environments(facts.environment)
    return rows_as_dicts(
        cur.execute(
            f"""
            SELECT {DEPLOYMENT_COLUMNS} FROM deployments
            WHERE deployed_at BETWEEN ? AND ? AND list_contains(?, service)
              AND (?::VARCHAR[] IS NULL OR list_contains(?, lower(environment)))
            """,
            [start, facts.impact, list(facts.services), envs, envs],
        )
    )


def confirmed_deployments(
    cur: duckdb.DuckDBPyConnection, facts: IncidentFacts, verdicts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    envs = _environments(facts.environment)
    rows: list[dict[str, Any]] = []
    # Confirmed targets are listed even outside the window: a responder's word outranks it.
    # A confirmed commit brings the deployments of the incident's services that shipped it.
    confirmed = _confirmed_ids(verdicts, "deployment_event_id")
    if confirmed:
        rows += rows_by_key(cur, "deployments", "event_id", confirmed, DEPLOYMENT_COLUMNS)
    commits = _confirmed_ids(verdicts, "commit")
    if commits:
        rows += [
            row
            for row in _deployments_shipping(cur, commits)
            if row["service"] in facts.services
            and (envs is None or row["environment"].lower() in envs)
            and row["deployed_at"] <= facts.impact
        ]
    return rows


def _deployments_shipping(
    cur: duckdb.DuckDBPyConnection, commits: list[str]
) -> list[dict[str, Any]]:
    """Deployments that shipped these commits by any of the ways ``shipped_by`` knows: named
    (``commit``/``commits``), brought in by a merge they shipped, or built into their
    artifact. Only for confirmed commits, so the scans of merges and artifacts are rare."""
    heads = commits + [
        merge
        for (merge,) in cur.execute(
            f"SELECT commit FROM merges WHERE merged_commit IN {in_list(commits)}", commits
        ).fetchall()
    ]
    seqs = [
        seq
        for (seq,) in cur.execute(
            f"SELECT deployment_seq FROM deployment_changes WHERE commit IN {in_list(heads)}",
            heads,
        ).fetchall()
    ]
    rows = rows_by_key(cur, "deployments", "event_seq", seqs, DEPLOYMENT_COLUMNS)
    artifacts = [
        name
        for (name,) in cur.execute(
            f"SELECT DISTINCT artifact FROM artifacts WHERE commit IN {in_list(heads)}", heads
        ).fetchall()
    ]
    if artifacts:
        rows += rows_by_key(cur, "deployments", "artifact", artifacts, DEPLOYMENT_COLUMNS)
    return rows


def actions_in_window(
    cur: duckdb.DuckDBPyConnection, facts: IncidentFacts, start: datetime
) -> list[dict[str, Any]]:
    # An action with no service but the incident's environment targets the whole
    # environment (delete_environment), so it touches the incident's services too. An
    # incident that names no environment is taken to be in production for this.
    envs = _environments(facts.environment)
    wide = envs if envs is not None else sorted(PROD_NAMES)
    return rows_as_dicts(
        cur.execute(
            f"""
            SELECT {ACTION_COLUMNS} FROM agent_actions
            WHERE acted_at BETWEEN ? AND ?
              AND (list_contains(?, service)
                   OR (service IS NULL AND list_contains(?, lower(environment))))
              AND (?::VARCHAR[] IS NULL OR environment IS NULL
                   OR list_contains(?, lower(environment)))
            """,
            [start, facts.impact, list(facts.services), wide, envs, envs],
        )
    )


def confirmed_actions(
    cur: duckdb.DuckDBPyConnection, verdicts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    confirmed = _confirmed_ids(verdicts, "action_event_id")
    return rows_by_key(cur, "agent_actions", "event_id", confirmed, ACTION_COLUMNS)
