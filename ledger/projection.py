"""The pure projection: accepted events in, rows per table out. No I/O.

Every event maps to rows on its own, with no look-ups of other events, so the projection
is the same whatever order events arrive in; relations between events are views.

Rows are tuples in the column order of :data:`TABLES`, so a batch turns into columns with one
transpose (:func:`project_columns`, what the writer inserts); :func:`project` gives the same
rows as dicts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import pyarrow as pa

from provenance_ledger.ledger import catalog_projection, cdevents_projection
from provenance_ledger.schemas import events as ev
from provenance_ledger.schemas.codec import DecodedEvent
from provenance_ledger.schemas.errors import LocalFailure

Row = dict[str, Any]
Rows = dict[str, list[Row]]
Columns = dict[str, list[Any]]

TABLES: dict[str, tuple[str, ...]] = {
    "people": ("person_id", "name", "level", "team", "valid_from", "event_id", "event_seq"),
    "changes": (
        "repo", "commit", "author_id", "author_name", "files", "lines_added", "lines_deleted",
        "message", "ai_assisted", "authored_at", "event_id", "event_seq",
    ),
    "change_ai": ("repo", "commit", "tool", "model", "mode", "lines", "session", "event_seq"),
    "reviews": (
        "repo", "commit", "change_ref", "reviewer_id", "reviewer_name", "decision",
        "reviewed_at", "event_id", "event_seq",
    ),
    "merges": (
        "repo", "commit", "merged_commit", "change_ref", "target_branch", "merged_by_id",
        "merged_at", "event_id", "event_seq",
    ),
    "artifacts": (
        "artifact", "repo", "commit", "change_ref", "pipeline_run", "built_at", "event_id",
        "event_seq",
    ),
    "deployments": (
        "event_id", "event_source", "service", "environment", "region", "version", "repo",
        "commit", "artifact", "deployer_id", "deployer_kind", "fleet_percent", "deployed_at",
        "event_seq",
    ),
    "deployment_changes": ("deployment_seq", "repo", "commit"),
    "rollbacks": (
        "event_id", "service", "environment", "from_version", "to_version", "reason",
        "rolled_back_at", "event_seq",
    ),
    "agent_actions": (
        "event_id", "event_source", "tool", "model", "session", "action", "service",
        "environment", "resource", "destructive", "command", "authorized_by_id", "acted_at",
        "event_seq",
    ),
    "incidents": (
        "incident", "title", "severity", "services", "environment", "impact_started_at",
        "opened_at", "event_id", "event_seq", "region",
    ),
    "incident_resolutions": ("incident", "resolved_at", "event_id", "event_seq"),
    "attributions": (
        "incident", "verdict", "by_id", "target_kind", "deployment_event_id",
        "action_event_id", "repo", "commit", "attributed_at", "event_id", "event_seq",
    ),
    **catalog_projection.TABLES,
}  # fmt: skip
Tuples = dict[str, list[tuple[Any, ...]]]


class Accepted(NamedTuple):
    """An event the ledger has accepted, with its position in the ledger."""

    seq: int
    decoded: DecodedEvent

    @property
    def id(self) -> str:
        return self.decoded.event.id

    @property
    def time(self) -> datetime:
        return self.decoded.event.time


def _tuples(accepted: list[Accepted]) -> Tuples:
    out: Tuples = defaultdict(list)
    for item in accepted:
        fact = item.decoded.fact
        if fact is None:
            event = item.decoded.event
            for table, row in cdevents_projection.project(event, item.seq):
                out[table].append(tuple(row[name] for name in TABLES[table]))
        else:
            projector = _PROJECTORS.get(type(fact))
            if projector is None:
                raise TypeError(f"no projection for {type(fact).__name__}")
            projector(fact, item.decoded.event, item.seq, out)
    return out


def project(accepted: list[Accepted]) -> Rows:
    return {
        table: [dict(zip(TABLES[table], row, strict=True)) for row in rows]
        for table, rows in _tuples(accepted).items()
    }


def project_columns(accepted: list[Accepted]) -> dict[str, Columns]:
    """:func:`project` as columns per table: what the writer hands to DuckDB."""
    return {
        table: dict(zip(TABLES[table], map(list, zip(*rows, strict=True)), strict=True))
        for table, rows in _tuples(accepted).items()
    }


class ProjectionError(LookupError, LocalFailure):
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
    beyond BIGINT, or a bug in a projector: any failure of one event's projection is that
    event's alone). Still pure: the table shapes are passed in."""
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
        except ProjectionError:
            raise
        except Exception as exc:
            failures.append((item, f"{type(exc).__name__}: {exc}"))
            continue
        for table, table_rows in produced.items():
            rows[table].extend(table_rows)
    return dict(rows), failures


Projector = Callable[[Any, ev.CloudEvent, int, Tuples], None]


def _person_registered(
    fact: ev.PersonRegistered, event: ev.CloudEvent, seq: int, out: Tuples
) -> None:
    person = fact.person
    out["people"].append(
        (person.id.lower(), person.name, person.level, person.team, event.time, event.id, seq)
    )


def _change_authored(fact: ev.ChangeAuthored, event: ev.CloudEvent, seq: int, out: Tuples) -> None:
    commit = fact.commit.lower()
    out["changes"].append(
        (
            fact.repo,
            commit,
            fact.author.id.lower(),
            fact.author.name,
            list(fact.files),
            fact.lines_added,
            fact.lines_deleted,
            fact.message,
            bool(fact.ai),
            event.time,
            event.id,
            seq,
        )
    )
    if fact.ai:
        out["change_ai"].extend(
            (fact.repo, commit, ai.tool.lower(), ai.model, ai.mode, ai.lines, ai.session, seq)
            for ai in fact.ai
        )


def _change_reviewed(fact: ev.ChangeReviewed, event: ev.CloudEvent, seq: int, out: Tuples) -> None:
    out["reviews"].append(
        (
            fact.repo,
            fact.commit.lower(),
            fact.change,
            fact.reviewer.id.lower(),
            fact.reviewer.name,
            fact.decision,
            event.time,
            event.id,
            seq,
        )
    )


def _change_merged(fact: ev.ChangeMerged, event: ev.CloudEvent, seq: int, out: Tuples) -> None:
    commit = fact.commit.lower()
    merged_by = fact.merged_by.id.lower() if fact.merged_by else None
    brought_in = [sha.lower() for sha in fact.commits] or [commit]
    out["merges"].extend(
        (
            fact.repo,
            commit,
            sha,
            fact.change,
            fact.target_branch,
            merged_by,
            event.time,
            event.id,
            seq,
        )
        for sha in brought_in
    )


def _artifact_built(fact: ev.ArtifactBuilt, event: ev.CloudEvent, seq: int, out: Tuples) -> None:
    out["artifacts"].append(
        (
            fact.artifact,
            fact.repo,
            fact.commit.lower(),
            None,
            fact.pipeline_run,
            event.time,
            event.id,
            seq,
        )
    )


def _service_deployed(
    fact: ev.ServiceDeployed, event: ev.CloudEvent, seq: int, out: Tuples
) -> None:
    deployer = fact.deployer
    commit = fact.commit.lower() if fact.commit else None
    out["deployments"].append(
        (
            event.id,
            event.source,
            fact.service,
            fact.environment,
            fact.region,
            fact.version,
            fact.repo,
            commit,
            fact.artifact,
            deployer.id.lower() if deployer else None,
            deployer.kind if deployer else None,
            fact.fleet_percent,
            event.time,
            seq,
        )
    )
    shipped = [sha.lower() for sha in fact.commits]
    if commit and commit not in shipped:
        shipped.append(commit)
    if shipped:
        out["deployment_changes"].extend((seq, fact.repo, sha) for sha in shipped)


def _service_rolled_back(
    fact: ev.ServiceRolledBack, event: ev.CloudEvent, seq: int, out: Tuples
) -> None:
    out["rollbacks"].append(
        (
            event.id,
            fact.service,
            fact.environment,
            fact.from_version,
            fact.to_version,
            fact.reason,
            event.time,
            seq,
        )
    )


def _agent_acted(fact: ev.AgentActed, event: ev.CloudEvent, seq: int, out: Tuples) -> None:
    agent, target = fact.agent, fact.target
    out["agent_actions"].append(
        (
            event.id,
            event.source,
            agent.tool.lower(),
            agent.model,
            agent.session,
            fact.action,
            target.service,
            target.environment,
            target.resource,
            fact.destructive,
            fact.command,
            fact.authorized_by.id.lower() if fact.authorized_by else None,
            event.time,
            seq,
        )
    )


def _incident_opened(fact: ev.IncidentOpened, event: ev.CloudEvent, seq: int, out: Tuples) -> None:
    out["incidents"].append(
        (
            fact.incident,
            fact.title,
            fact.severity,
            list(fact.services),
            fact.environment,
            fact.impact_started_at or event.time,
            event.time,
            event.id,
            seq,
            region_of_data(fact.model_extra),
        )
    )


def region_of_data(data: dict[str, Any] | None) -> str | None:
    """An incident opening's region: an extra field, kept when it is text (the migration of
    a file from before ``incidents.region`` applies the same rule)."""
    region = (data or {}).get("region")
    return region if isinstance(region, str) else None


def _incident_resolved(
    fact: ev.IncidentResolved, event: ev.CloudEvent, seq: int, out: Tuples
) -> None:
    out["incident_resolutions"].append(
        (fact.incident, fact.resolved_at or event.time, event.id, seq)
    )


def _incident_attributed(
    fact: ev.IncidentAttributed, event: ev.CloudEvent, seq: int, out: Tuples
) -> None:
    if fact.deployment is not None:
        kind = "deployment"
    elif fact.action is not None:
        kind = "action"
    else:
        kind = "commit"
    out["attributions"].append(
        (
            fact.incident,
            fact.verdict,
            fact.by.id.lower(),
            kind,
            fact.deployment,
            fact.action,
            fact.repo,
            fact.commit.lower() if fact.commit else None,
            event.time,
            event.id,
            seq,
        )
    )


_PROJECTORS: dict[type[ev.Fact], Projector] = {
    ev.PersonRegistered: _person_registered,
    ev.ChangeAuthored: _change_authored,
    ev.ChangeReviewed: _change_reviewed,
    ev.ChangeMerged: _change_merged,
    ev.ArtifactBuilt: _artifact_built,
    ev.ServiceDeployed: _service_deployed,
    ev.ServiceRolledBack: _service_rolled_back,
    ev.AgentActed: _agent_acted,
    ev.IncidentOpened: _incident_opened,
    ev.IncidentResolved: _incident_resolved,
    ev.IncidentAttributed: _incident_attributed,
    ev.ServiceRegistered: catalog_projection.service_registered,
    ev.ConfigChanged: catalog_projection.config_changed,
}
