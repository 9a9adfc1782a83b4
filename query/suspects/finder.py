"""Gather suspect candidates for an incident from the ledger and rank them.

The SQL here and in query/suspects/gather.py only collects facts (candidates, what they
shipped, rollbacks, verdicts); query/suspects/ranking.py turns facts into scores and reasons.
docs/ranking.md documents both.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import duckdb

from provenance_ledger.query.policy.definitions import Seniority
from provenance_ledger.query.policy.inforce import seniority_in_force
from provenance_ledger.query.policy.levels import Levels, all_levels, load_levels
from provenance_ledger.query.readmodels.changes import (
    Pair,
    change_details,
    shipped_by,
    shipped_with_details,
)
from provenance_ledger.query.readmodels.incidents import (
    concurrently,
    incident_opening,
    region_of,
    resolved_at_of,
)
from provenance_ledger.query.readmodels.rollbacks import rollbacks_of
from provenance_ledger.query.suspects.gather import (
    actions_in_window,
    confirmed_actions,
    confirmed_deployments,
    deployments_in_window,
    verdicts_of,
)
from provenance_ledger.query.suspects.ranking import (
    Candidate,
    IncidentFacts,
    Revert,
    Scored,
    contenders,
    rank,
)

# At most this many candidates get their changes looked up (see ranking.contenders).
DETAILED = 15


def suspects_for(
    cur: duckdb.DuckDBPyConnection, incident_id: str, lookback: timedelta, limit: int
) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """The incident (as ``find_incident`` gives it) and the API's suspects list for it; None
    if the ledger has no such incident.

    Everything that needs only the incident's opening is read at once: its resolution and
    region, the verdicts on it, and the deployments and agent actions in the window. Who is
    senior is as the policy in force says.
    """
    seniority = seniority_in_force()
    opening = incident_opening(cur, incident_id)
    if opening is None:
        return None
    where = _incident_facts({**opening, "resolved_at": None, "region": None})
    start = where.impact - lookback
    resolved_at, region, verdicts, deployments, actions, levels = concurrently(
        cur,
        lambda c: resolved_at_of(c, incident_id),
        lambda c: region_of(c, opening),
        lambda c: verdicts_of(c, incident_id),
        lambda c: deployments_in_window(c, where, start),
        lambda c: actions_in_window(c, where, start),
        all_levels,
    )
    incident = {**opening, "resolved_at": resolved_at, "region": region}
    facts = _incident_facts(incident)
    found = Found(verdicts, deployments, actions, levels, seniority)
    return incident, _ranked(cur, facts, start, found, limit)


@dataclass(frozen=True)
class Found:
    """What the first round of look-ups found; ``levels`` is None when not kept in memory."""

    verdicts: list[dict[str, Any]]
    deployments: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    levels: Levels | None
    seniority: Seniority


def _ranked(
    cur: duckdb.DuckDBPyConnection,
    facts: IncidentFacts,
    start: datetime,
    found: Found,
    limit: int,
) -> list[dict[str, Any]]:
    verdicts = found.verdicts
    deployments = _unique_by_seq(found.deployments + confirmed_deployments(cur, facts, verdicts))
    actions = _unique_by_seq(found.actions + confirmed_actions(cur, verdicts))
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
    candidates += [_action_candidate(a, levels, found.seniority, verdicts, start) for a in actions]
    # Change facts cost index look-ups: fetch them only for those who can still rank.
    candidates = contenders(candidates, facts, limit, most=max(DETAILED, limit + 5))
    candidates = _with_changes(cur, candidates, deployments, shipped if by_commit else None, found)
    ranked = rank(candidates, facts, limit)
    return [_as_api(rank_no, item) for rank_no, item in enumerate(ranked, start=1)]


def _with_changes(
    cur: duckdb.DuckDBPyConnection,
    candidates: list[Candidate],
    deployments: list[dict[str, Any]],
    shipped: dict[int, list[Pair]] | None,
    found: Found,
) -> list[Candidate]:
    """The deployment candidates with the commits they shipped (``shipped`` when already
    known) and what the ledger knows of each."""
    wanted = {c.seq for c in candidates}
    if shipped is not None:
        pairs = [pair for seq, pairs in shipped.items() if seq in wanted for pair in pairs]
        details = change_details(cur, pairs, found.seniority, found.levels)
    else:
        wanted_deployments = [d for d in deployments if d["event_seq"] in wanted]
        shipped, details = shipped_with_details(
            cur, wanted_deployments, found.seniority, found.levels
        )
    return [
        replace(
            c,
            commits=tuple(sha for _, sha in shipped.get(c.seq, [])),
            changes=tuple(details[sha] for _, sha in shipped.get(c.seq, []) if sha in details),
        )
        if c.kind == "deployment"
        else c
        for c in candidates
    ]


def _incident_facts(incident: dict[str, Any]) -> IncidentFacts:
    return IncidentFacts(
        services=tuple(incident["services"]),
        environment=incident["environment"],
        impact=incident["impact_started_at"],
        resolved_at=incident["resolved_at"],
        region=incident.get("region"),
    )


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
    a: dict[str, Any],
    levels: Levels,
    seniority: Seniority,
    verdicts: list[dict[str, Any]],
    start: datetime,
) -> Candidate:
    level = levels.at(a["authorized_by_id"], a["acted_at"])
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
        authorized_level=level,
        authorized_senior=seniority.is_senior(level),
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


def _as_api(rank_no: int, item: Scored) -> dict[str, Any]:
    c = item.candidate
    changes = [change.as_api() for change in c.changes]
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
