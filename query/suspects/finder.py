"""Gather suspect candidates for an incident from the ledger and rank them.

The SQL here only collects facts (candidates, what they shipped, rollbacks, verdicts);
query/suspects/ranking.py turns facts into scores and reasons. docs/ranking.md documents both.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import duckdb

from provenance_ledger.query.policy.levels import Levels, all_levels, load_levels
from provenance_ledger.query.readmodels.changes import (
    change_details,
    shipped_by,
    shipped_with_details,
)
from provenance_ledger.query.readmodels.incidents import (
    concurrently,
    in_list,
    incident_opening,
    region_of,
    resolved_at_of,
    rows_as_dicts,
    rows_by_key,
)
from provenance_ledger.query.readmodels.rollbacks import rollbacks_of
from provenance_ledger.query.suspects.ranking import (
    PROD_NAMES,
    Candidate,
    IncidentFacts,
    Revert,
    Scored,
    contenders,
    rank,
)

# At most this many candidates get their changes looked up (see ranking.contenders).
DETAILED = 15
_DEPLOYMENT_COLUMNS = (
    "event_id, event_seq, service, environment, region, version, repo, commit, artifact, "
    "deployer_kind, fleet_percent, deployed_at"
)
_ACTION_COLUMNS = (
    "event_id, event_seq, tool, model, session, action, service, environment, resource, "
    "destructive, command, authorized_by_id, acted_at"
)


def suspects_for(
    cur: duckdb.DuckDBPyConnection, incident_id: str, lookback: timedelta, limit: int
) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """The incident (as ``find_incident`` gives it) and the API's suspects list for it; None
    if the ledger has no such incident.

    Everything that needs only the incident's opening is read at once: its resolution and
    region, the verdicts on it, and the deployments and agent actions in the window.
    """
    opening = incident_opening(cur, incident_id)
    if opening is None:
        return None
    where = _incident_facts({**opening, "resolved_at": None, "region": None})
    start = where.impact - lookback
    resolved_at, region, verdicts, deployments, actions, levels = concurrently(
        cur,
        lambda c: resolved_at_of(c, incident_id),
        lambda c: region_of(c, opening),
        lambda c: _verdicts(c, incident_id),
        lambda c: _deployments_in_window(c, where, start),
        lambda c: _actions_in_window(c, where, start),
        all_levels,
    )
    incident = {**opening, "resolved_at": resolved_at, "region": region}
    facts = _incident_facts(incident)
    found = Found(verdicts, deployments, actions, levels)
    return incident, _ranked(cur, facts, start, found, limit)


@dataclass(frozen=True)
class Found:
    """What the first round of look-ups found; ``levels`` is None when not kept in memory."""

    verdicts: list[dict[str, Any]]
    deployments: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    levels: Levels | None


def _ranked(
    cur: duckdb.DuckDBPyConnection,
    facts: IncidentFacts,
    start: datetime,
    found: Found,
    limit: int,
) -> list[dict[str, Any]]:
    verdicts = found.verdicts
    deployments = _unique_by_seq(found.deployments + _confirmed_deployments(cur, facts, verdicts))
    actions = _unique_by_seq(found.actions + _confirmed_actions(cur, verdicts))
    # What deployments shipped matters before pruning only for verdicts on commits.
    by_commit = any(v["target_kind"] == "commit" for v in verdicts)
    shipped = shipped_by(cur, deployments) if by_commit else {}
    reverts, levels = concurrently(
        cur,
        lambda c: _reverts(c, facts, deployments),
        lambda c: found.levels or load_levels(c, [a["authorized_by_id"] for a in actions]),
    )
    repeats = _redeploys([d for d in deployments if d["deployed_at"] >= start], reverts)
    candidates = [
        replace(
            _deployment_candidate(d, shipped.get(d["event_seq"], []), reverts, verdicts, start),
            redeploy_of=repeats.get(d["event_seq"]),
        )
        for d in deployments
    ]
    candidates += [_action_candidate(a, levels.at, verdicts, start) for a in actions]
    # Change facts cost index look-ups: fetch them only for those who can still rank.
    candidates = contenders(candidates, facts, limit, most=max(DETAILED, limit + 5))
    wanted = {c.seq for c in candidates}
    if by_commit:
        details = change_details(
            cur,
            [pair for seq, pairs in shipped.items() if seq in wanted for pair in pairs],
            found.levels,
        )
    else:
        shipped, details = shipped_with_details(
            cur, [d for d in deployments if d["event_seq"] in wanted], found.levels
        )
    candidates = [
        replace(
            c,
            commits=tuple(sha for _, sha in shipped.get(c.seq, [])),
            changes=tuple(details[sha][1] for _, sha in shipped.get(c.seq, []) if sha in details),
        )
        if c.kind == "deployment"
        else c
        for c in candidates
    ]
    ranked = rank(candidates, facts, limit)
    return [_as_api(rank_no, item, details) for rank_no, item in enumerate(ranked, start=1)]


def _incident_facts(incident: dict[str, Any]) -> IncidentFacts:
    return IncidentFacts(
        services=tuple(incident["services"]),
        environment=incident["environment"],
        impact=incident["impact_started_at"],
        resolved_at=incident["resolved_at"],
        region=incident.get("region"),
    )


def _verdicts(cur: duckdb.DuckDBPyConnection, incident: str) -> list[dict[str, Any]]:
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


def _deployments_in_window(
    cur: duckdb.DuckDBPyConnection, facts: IncidentFacts, start: datetime
) -> list[dict[str, Any]]:
    envs = _environments(facts.environment)
    return rows_as_dicts(
        cur.execute(
            f"""
            SELECT {_DEPLOYMENT_COLUMNS} FROM deployments
            WHERE deployed_at BETWEEN ? AND ? AND list_contains(?, service)
              AND (?::VARCHAR[] IS NULL OR list_contains(?, lower(environment)))
            """,
            [start, facts.impact, list(facts.services), envs, envs],
        )
    )


def _confirmed_deployments(
    cur: duckdb.DuckDBPyConnection, facts: IncidentFacts, verdicts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    envs = _environments(facts.environment)
    rows: list[dict[str, Any]] = []
    # Confirmed targets are listed even outside the window: a responder's word outranks it.
    # A confirmed commit brings the deployments of the incident's services that shipped it.
    confirmed = _confirmed_ids(verdicts, "deployment_event_id")
    if confirmed:
        rows += rows_by_key(cur, "deployments", "event_id", confirmed, _DEPLOYMENT_COLUMNS)
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
    rows = rows_by_key(cur, "deployments", "event_seq", seqs, _DEPLOYMENT_COLUMNS)
    artifacts = [
        name
        for (name,) in cur.execute(
            f"SELECT DISTINCT artifact FROM artifacts WHERE commit IN {in_list(heads)}", heads
        ).fetchall()
    ]
    if artifacts:
        rows += rows_by_key(cur, "deployments", "artifact", artifacts, _DEPLOYMENT_COLUMNS)
    return rows


def _actions_in_window(
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
            SELECT {_ACTION_COLUMNS} FROM agent_actions
            WHERE acted_at BETWEEN ? AND ?
              AND (list_contains(?, service)
                   OR (service IS NULL AND list_contains(?, lower(environment))))
              AND (?::VARCHAR[] IS NULL OR environment IS NULL
                   OR list_contains(?, lower(environment)))
            """,
            [start, facts.impact, list(facts.services), wide, envs, envs],
        )
    )


def _confirmed_actions(
    cur: duckdb.DuckDBPyConnection, verdicts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    confirmed = _confirmed_ids(verdicts, "action_event_id")
    return rows_by_key(cur, "agent_actions", "event_id", confirmed, _ACTION_COLUMNS)


def _unique_by_seq(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted({row["event_seq"]: row for row in rows}.values(), key=lambda r: r["event_seq"])


def _reverts(
    cur: duckdb.DuckDBPyConnection, facts: IncidentFacts, deployments: list[dict[str, Any]]
) -> dict[int, list[Revert]]:
    """Rollbacks that reverted candidates; one followed by another before the incident
    resolved did not fix it (``superseded``)."""
    # Rollbacks after the incident resolved say nothing about it.
    rollbacks, reverted = rollbacks_of(cur, deployments, until=facts.resolved_at)
    during = [
        rb["rolled_back_at"]
        for rb in rollbacks
        if facts.impact <= rb["rolled_back_at"]
        and (facts.resolved_at is None or rb["rolled_back_at"] <= facts.resolved_at)
    ]
    return {
        seq: [
            Revert(
                rb["event_id"],
                rb["rolled_back_at"],
                count,
                superseded=any(t > rb["rolled_back_at"] for t in during),
            )
            for rb, count in hits
        ]
        for seq, hits in reverted.items()
    }


def _redeploys(
    deployments: list[dict[str, Any]], reverts: dict[int, list[Revert]]
) -> dict[int, str]:
    """Per deployment seq that repeats the one before it: the version it repeats.

    A repeat is the same version as the previous deployment of the service, environment and
    region, which had reached at least as much of the fleet and was not rolled back in
    between: a restart ships nothing new (a canary promoted to 100 % or a re-rollout after
    a rollback does). Only deployments in the window are compared (they are all of them
    there): the previous one of the earliest is outside it, where it no longer matters."""
    previous: dict[tuple, dict[str, Any]] = {}
    out: dict[int, str] = {}
    for d in sorted(deployments, key=lambda r: (r["deployed_at"], r["event_seq"])):
        key = (d["service"], d["environment"], d["region"])
        before = previous.get(key)
        previous[key] = d
        if before is None or before["version"] != d["version"]:
            continue
        if (d["commit"] and before["commit"] and d["commit"] != before["commit"]) or _share(
            before
        ) < _share(d):
            continue
        if any(r.rolled_back_at <= d["deployed_at"] for r in reverts.get(before["event_seq"], [])):
            continue
        out[d["event_seq"]] = before["version"]
    return out


def _share(d: dict[str, Any]) -> float:
    return 100.0 if d["fleet_percent"] is None else d["fleet_percent"]


def _deployment_candidate(
    d: dict[str, Any],
    shipped: list[tuple[str | None, str]],
    reverts: dict[int, list[Revert]],
    verdicts: list[dict[str, Any]],
    start: datetime,
) -> Candidate:
    commits = [commit for _, commit in shipped]
    verdict = _target_verdict(verdicts, "deployment", "deployment_event_id", d["event_id"])
    by_commit = [v for v in verdicts if v["target_kind"] == "commit" and v["commit"] in commits]
    candidate = Candidate(
        kind="deployment",
        event_id=d["event_id"],
        seq=d["event_seq"],
        service=d["service"],
        environment=d["environment"],
        time=d["deployed_at"],
        region=d["region"],
        fleet_percent=d["fleet_percent"],
        deployer_kind=d["deployer_kind"],
        commits=tuple(commits),
        reverts=tuple(reverts.get(d["event_seq"], ())),
        confirmed_commits=tuple(v["commit"] for v in by_commit if v["verdict"] == "confirmed"),
        rejected_commits=tuple(v["commit"] for v in by_commit if v["verdict"] == "rejected"),
        in_window=d["deployed_at"] >= start,
    )
    return replace(candidate, **verdict) if verdict else candidate


def _action_candidate(
    a: dict[str, Any], level_at, verdicts: list[dict[str, Any]], start: datetime
) -> Candidate:
    candidate = Candidate(
        kind="agent_action",
        event_id=a["event_id"],
        seq=a["event_seq"],
        service=a["service"],
        environment=a["environment"],
        time=a["acted_at"],
        action=a["action"],
        agent_tool=a["tool"],
        agent_session=a["session"],
        destructive=a["destructive"],
        authorized_by=a["authorized_by_id"],
        authorized_level=level_at(a["authorized_by_id"], a["acted_at"]),
        in_window=a["acted_at"] >= start,
    )
    verdict = _target_verdict(verdicts, "action", "action_event_id", a["event_id"])
    return replace(candidate, **verdict) if verdict else candidate


def _target_verdict(
    verdicts: list[dict[str, Any]], kind: str, column: str, event_id: str
) -> dict[str, Any] | None:
    for v in verdicts:
        if v["target_kind"] == kind and v[column] == event_id:
            return {"verdict": v["verdict"], "verdict_by": v["by_id"]}
    return None


def _as_api(rank_no: int, item: Scored, details: dict[str, Any]) -> dict[str, Any]:
    c = item.candidate
    changes = [details[ch.commit][0] for ch in c.changes if ch.commit in details]
    suspect: dict[str, Any] = {
        "rank": rank_no,
        "score": item.score,
        "kind": c.kind,
        "event_id": c.event_id,
        "service": c.service,
        "environment": c.environment,
        "time": c.time,
        "changes": changes,
        "reasons": item.reasons,
    }
    if c.kind == "agent_action":
        suspect["action"] = {
            "action": c.action,
            "tool": c.agent_tool,
            "session": c.agent_session,
            "destructive": c.destructive,
            "authorized_by": c.authorized_by,
            "authorized_level": c.authorized_level,
        }
    else:
        suspect["region"] = c.region
        suspect["fleet_percent"] = c.fleet_percent
    return suspect
