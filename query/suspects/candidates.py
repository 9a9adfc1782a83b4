"""Candidates from ledger rows, and a ranked candidate as the API's suspect object.

query/suspects/gather.py reads the rows; query/suspects/finder.py calls these.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any

from provenance_ledger.query.policy.definitions import Seniority
from provenance_ledger.query.policy.levels import Levels
from provenance_ledger.query.suspects.model import (
    Candidate,
    ConfigChange,
    IncidentFacts,
    Revert,
    Scored,
)


def deployment_candidate(
    d: dict[str, Any],
    shipped: list[tuple[str | None, str]],
    reverts: dict[int, list[Revert]],
    verdicts: list[dict[str, Any]],
    where: tuple[IncidentFacts, datetime],
    redeploy_of: str | None = None,
) -> Candidate:
    """``where``: the incident and the start of the lookback window; ``redeploy_of``: the
    version it repeats, if it does."""
    facts, start = where
    commits = [commit for _, commit in shipped]
    verdict = _target_verdict(verdicts, "deployment", "deployment_event_id", d["event_id"])
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
        in_window=d["deployed_at"] >= start,
        path=facts.path_to(d["service"]),
        redeploy_of=redeploy_of,
        **_commit_verdicts(verdicts, commits),
    )
    return replace(candidate, **verdict) if verdict else candidate


def action_candidate(
    a: dict[str, Any],
    levels: Levels,
    seniority: Seniority,
    verdicts: list[dict[str, Any]],
    where: tuple[IncidentFacts, datetime],
) -> Candidate:
    facts, start = where
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
        path=facts.path_to(a["service"]),
    )
    verdict = _target_verdict(verdicts, "action", "action_event_id", a["event_id"])
    return replace(candidate, **verdict) if verdict else candidate


def config_candidate(
    row: dict[str, Any],
    reverts: dict[int, list[Revert]],
    verdicts: list[dict[str, Any]],
    facts: IncidentFacts,
) -> Candidate:
    """A ``config_changes`` row (gather.CONFIG_COLUMNS). The contract's verdicts name no
    configuration change; one on the commit it was applied from counts, as for a deployment
    that shipped that commit."""
    commits = [row["commit"]] if row["commit"] else []
    return Candidate(
        kind="config_change",
        event_id=row["event_id"],
        seq=row["event_seq"],
        service=row["target_service"],
        environment=row["target_environment"],
        time=row["changed_at"],
        region=row["target_region"],
        fleet_percent=row["fleet_percent"],
        commits=tuple(commits),
        reverts=tuple(reverts.get(row["event_seq"], ())),
        path=facts.path_to(row["target_service"], row["target_resource"]),
        config=ConfigChange(
            kind=row["kind"],
            key=row["key"],
            action=row["action"],
            resource=row["target_resource"],
            from_value=row["from_value"],
            to_value=row["to_value"],
            actor=row["actor_id"],
            actor_name=row["actor_name"],
            actor_kind=row["actor_kind"],
            ai_tools=tuple(row["ai_tools"] or ()),
            change_ref=row["change_ref"],
            repo=row["repo"],
            commit=row["commit"],
        ),
        **_commit_verdicts(verdicts, commits),
    )


def _commit_verdicts(verdicts: list[dict[str, Any]], commits: list[str]) -> dict[str, Any]:
    by_commit = [v for v in verdicts if v["target_kind"] == "commit" and v["commit"] in commits]
    return {
        "confirmed_commits": tuple(v["commit"] for v in by_commit if v["verdict"] == "confirmed"),
        "rejected_commits": tuple(v["commit"] for v in by_commit if v["verdict"] == "rejected"),
    }


def _target_verdict(
    verdicts: list[dict[str, Any]], kind: str, column: str, event_id: str
) -> dict[str, Any] | None:
    for v in verdicts:
        if v["target_kind"] == kind and v[column] == event_id:
            return {"verdict": v["verdict"], "verdict_by": v["by_id"]}
    return None


def as_api(rank_no: int, item: Scored) -> dict[str, Any]:
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
        "path": list(c.path) or None,
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
    if c.config is not None:
        suspect["config"] = _config_as_api(c.config)
    return suspect


def _config_as_api(config: ConfigChange) -> dict[str, Any]:
    """The API's ``ConfigSummary``: what changed, who or which AI changed it."""
    actor = (
        {"id": config.actor, "name": config.actor_name, "kind": config.actor_kind}
        if config.actor or config.actor_kind
        else None
    )
    return {
        "kind": config.kind,
        "key": config.key,
        "action": config.action,
        "resource": config.resource,
        "from": _value(config.from_value),
        "to": _value(config.to_value),
        "actor": actor,
        "ai": list(config.ai) or [{"tool": tool} for tool in config.ai_tools],
        "change_ref": config.change_ref,
        "repo": config.repo,
        "commit": config.commit,
    }


def _value(text: str | None) -> Any:
    return None if text is None else json.loads(text)
