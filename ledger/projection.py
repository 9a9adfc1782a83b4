"""The pure projection: accepted events in, rows per table out. No I/O.

Every event maps to rows on its own, with no look-ups of other events, so the projection
is the same whatever order events arrive in; relations between events are views.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import singledispatch
from typing import Any

import pyarrow as pa

from ledger import cdevents_projection
from schemas import events as ev
from schemas.codec import DecodedEvent

Row = dict[str, Any]
Rows = dict[str, list[Row]]


@dataclass(frozen=True)
class Accepted:
    """An event the ledger has accepted, with its position in the ledger."""

    seq: int
    decoded: DecodedEvent

    @property
    def id(self) -> str:
        return self.decoded.event.id

    @property
    def time(self) -> datetime:
        return self.decoded.event.time


def project(accepted: list[Accepted]) -> Rows:
    rows: Rows = defaultdict(list)
    for item in accepted:
        fact = item.decoded.fact
        if fact is None:
            produced = cdevents_projection.project(item.decoded.event, item.seq)
        else:
            produced = _rows(fact, item)
        for table, row in produced:
            rows[table].append(row)
    return dict(rows)


class ProjectionError(LookupError):
    """The ledger has no table for rows the projection made: a deployment problem, not a
    bad event."""


@dataclass(frozen=True)
class TableShape:
    """What a table accepts: its columns' Arrow types and which may not be NULL."""

    schema: pa.Schema
    not_null: frozenset[str]

    def check(self, rows: list[Row]) -> None:
        """Raise ValueError / an Arrow error if a row does not fit the table."""
        for row in rows:
            wrong = [name for name in self.not_null if name in row and row[name] is None]
            wrong += [name for name in row if name not in self.schema.names]
            if wrong:
                raise ValueError(f"no value (or no such column) for {', '.join(sorted(wrong))}")
            fields = [self.schema.field(name) for name in row]
            pa.Table.from_pylist([row], schema=pa.schema(fields))


def project_checked(
    accepted: list[Accepted], shapes: dict[str, TableShape]
) -> tuple[Rows, list[tuple[Accepted, str]]]:
    """Project event by event, keeping only events whose rows all fit their tables; the
    others come back with the reason (poison pills the decoder let through, e.g. a count
    beyond BIGINT). Still pure: the table shapes are passed in."""
    rows: Rows = defaultdict(list)
    failures: list[tuple[Accepted, str]] = []
    for item in accepted:
        try:
            produced = project([item])
            missing = set(produced) - set(shapes)
            if missing:
                raise ProjectionError(f"the ledger has no table {', '.join(sorted(missing))}")
            for table, table_rows in produced.items():
                shapes[table].check(table_rows)
        except (TypeError, ValueError, OverflowError, pa.ArrowException) as exc:
            failures.append((item, str(exc)))
            continue
        for table, table_rows in produced.items():
            rows[table].extend(table_rows)
    return dict(rows), failures


@singledispatch
def _rows(fact: ev.Fact, item: Accepted) -> list[tuple[str, Row]]:
    raise TypeError(f"no projection for {type(fact).__name__}")


@_rows.register
def _(fact: ev.PersonRegistered, item: Accepted) -> list[tuple[str, Row]]:
    person = fact.person
    row = {
        "person_id": person.id.lower(),
        "name": person.name,
        "level": person.level,
        "team": person.team,
        "valid_from": item.time,
        "event_id": item.id,
        "event_seq": item.seq,
    }
    return [("people", row)]


@_rows.register
def _(fact: ev.ChangeAuthored, item: Accepted) -> list[tuple[str, Row]]:
    commit = fact.commit.lower()
    change = {
        "repo": fact.repo,
        "commit": commit,
        "author_id": fact.author.id.lower(),
        "author_name": fact.author.name,
        "files": list(fact.files),
        "lines_added": fact.lines_added,
        "lines_deleted": fact.lines_deleted,
        "message": fact.message,
        "ai_assisted": bool(fact.ai),
        "authored_at": item.time,
        "event_id": item.id,
        "event_seq": item.seq,
    }
    assists = [
        (
            "change_ai",
            {
                "repo": fact.repo,
                "commit": commit,
                "tool": ai.tool.lower(),
                "model": ai.model,
                "mode": ai.mode,
                "lines": ai.lines,
                "session": ai.session,
                "event_seq": item.seq,
            },
        )
        for ai in fact.ai
    ]
    return [("changes", change), *assists]


@_rows.register
def _(fact: ev.ChangeReviewed, item: Accepted) -> list[tuple[str, Row]]:
    row = {
        "repo": fact.repo,
        "commit": fact.commit.lower(),
        "change_ref": fact.change,
        "reviewer_id": fact.reviewer.id.lower(),
        "reviewer_name": fact.reviewer.name,
        "decision": fact.decision,
        "reviewed_at": item.time,
        "event_id": item.id,
        "event_seq": item.seq,
    }
    return [("reviews", row)]


@_rows.register
def _(fact: ev.ChangeMerged, item: Accepted) -> list[tuple[str, Row]]:
    brought_in = [sha.lower() for sha in fact.commits] or [fact.commit.lower()]
    return [
        (
            "merges",
            {
                "repo": fact.repo,
                "commit": fact.commit.lower(),
                "merged_commit": sha,
                "change_ref": fact.change,
                "target_branch": fact.target_branch,
                "merged_by_id": fact.merged_by.id.lower() if fact.merged_by else None,
                "merged_at": item.time,
                "event_id": item.id,
                "event_seq": item.seq,
            },
        )
        for sha in brought_in
    ]


@_rows.register
def _(fact: ev.ArtifactBuilt, item: Accepted) -> list[tuple[str, Row]]:
    row = {
        "artifact": fact.artifact,
        "repo": fact.repo,
        "commit": fact.commit.lower(),
        "change_ref": None,
        "pipeline_run": fact.pipeline_run,
        "built_at": item.time,
        "event_id": item.id,
        "event_seq": item.seq,
    }
    return [("artifacts", row)]


@_rows.register
def _(fact: ev.ServiceDeployed, item: Accepted) -> list[tuple[str, Row]]:
    deployer = fact.deployer
    deployment = {
        "event_id": item.id,
        "event_source": item.decoded.event.source,
        "service": fact.service,
        "environment": fact.environment,
        "region": fact.region,
        "version": fact.version,
        "repo": fact.repo,
        "commit": fact.commit.lower() if fact.commit else None,
        "artifact": fact.artifact,
        "deployer_id": deployer.id.lower() if deployer else None,
        "deployer_kind": deployer.kind if deployer else None,
        "fleet_percent": fact.fleet_percent,
        "deployed_at": item.time,
        "event_seq": item.seq,
    }
    shipped = [sha.lower() for sha in fact.commits]
    if fact.commit and fact.commit.lower() not in shipped:
        shipped.append(fact.commit.lower())
    changes = [
        ("deployment_changes", {"deployment_seq": item.seq, "repo": fact.repo, "commit": sha})
        for sha in shipped
    ]
    return [("deployments", deployment), *changes]


@_rows.register
def _(fact: ev.ServiceRolledBack, item: Accepted) -> list[tuple[str, Row]]:
    row = {
        "event_id": item.id,
        "service": fact.service,
        "environment": fact.environment,
        "from_version": fact.from_version,
        "to_version": fact.to_version,
        "reason": fact.reason,
        "rolled_back_at": item.time,
        "event_seq": item.seq,
    }
    return [("rollbacks", row)]


@_rows.register
def _(fact: ev.AgentActed, item: Accepted) -> list[tuple[str, Row]]:
    row = {
        "event_id": item.id,
        "event_source": item.decoded.event.source,
        "tool": fact.agent.tool.lower(),
        "model": fact.agent.model,
        "session": fact.agent.session,
        "action": fact.action,
        "service": fact.target.service,
        "environment": fact.target.environment,
        "resource": fact.target.resource,
        "destructive": fact.destructive,
        "command": fact.command,
        "authorized_by_id": fact.authorized_by.id.lower() if fact.authorized_by else None,
        "acted_at": item.time,
        "event_seq": item.seq,
    }
    return [("agent_actions", row)]


@_rows.register
def _(fact: ev.IncidentOpened, item: Accepted) -> list[tuple[str, Row]]:
    row = {
        "incident": fact.incident,
        "title": fact.title,
        "severity": fact.severity,
        "services": list(fact.services),
        "environment": fact.environment,
        "impact_started_at": fact.impact_started_at or item.time,
        "opened_at": item.time,
        "event_id": item.id,
        "event_seq": item.seq,
    }
    return [("incidents", row)]


@_rows.register
def _(fact: ev.IncidentResolved, item: Accepted) -> list[tuple[str, Row]]:
    row = {
        "incident": fact.incident,
        "resolved_at": fact.resolved_at or item.time,
        "event_id": item.id,
        "event_seq": item.seq,
    }
    return [("incident_resolutions", row)]


@_rows.register
def _(fact: ev.IncidentAttributed, item: Accepted) -> list[tuple[str, Row]]:
    if fact.deployment is not None:
        kind = "deployment"
    elif fact.action is not None:
        kind = "action"
    else:
        kind = "commit"
    row = {
        "incident": fact.incident,
        "verdict": fact.verdict,
        "by_id": fact.by.id.lower(),
        "target_kind": kind,
        "deployment_event_id": fact.deployment,
        "action_event_id": fact.action,
        "repo": fact.repo,
        "commit": fact.commit.lower() if fact.commit else None,
        "attributed_at": item.time,
        "event_id": item.id,
        "event_seq": item.seq,
    }
    return [("attributions", row)]
