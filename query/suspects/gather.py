"""The SQL that collects an incident's suspect candidates: the services it reaches through
registered dependencies, the standing verdicts on it, the deployments, agent actions and
configuration changes in its window on those services, and deployments and actions outside
it that a verdict confirms. query/suspects/finder.py ranks what this finds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from provenance_ledger.ledger.rows import single_row, single_value
from provenance_ledger.ledger.store import ReadPosition
from provenance_ledger.query.readmodels.incidents import (
    first_opening,
    in_list,
    incident_opening,
    resolved_at_of,
    rows_as_dicts,
    rows_by_key,
    utc_from_micros,
)
from provenance_ledger.query.suspects.keptincidents import kept_incidents
from provenance_ledger.query.suspects.model import IncidentFacts
from provenance_ledger.query.suspects.weights import MAX_DEPENDENCY_HOPS, PROD_NAMES

# Times are read as epoch_us and made datetimes by ``_timed`` (utc_from_micros says why).
# Only what candidates, pruning, rollbacks and what they shipped read: each value fetched
# costs (~5 µs a string on the bench ledger, a window holds hundreds of rows).
DEPLOYMENT_COLUMNS = (
    "event_id, event_seq, service, environment, region, version, commit, artifact, "
    "deployer_kind, fleet_percent, epoch_us(deployed_at) AS deployed_at"
)
ACTION_COLUMNS = (
    "event_id, event_seq, tool, session, action, service, environment, destructive, "
    "authorized_by_id, epoch_us(acted_at) AS acted_at"
)
CONFIG_COLUMNS = (
    "event_id, event_seq, kind, target_service, target_environment, target_region, "
    "target_resource, key, from_value::VARCHAR AS from_value, to_value::VARCHAR AS to_value, "
    "fleet_percent, actor_id, actor_name, actor_kind, repo, commit, ai_tools, change_ref, "
    "action, epoch_us(changed_at) AS changed_at"
)
# What a later change needs to be found putting a value back (rollbacks.config_reverts).
LATER_CONFIG_COLUMNS = (
    "event_id, event_seq, target_service, target_environment, target_region, target_resource, "
    "key, from_value::VARCHAR AS from_value, to_value::VARCHAR AS to_value, "
    "epoch_us(changed_at) AS changed_at"
)

# What rollbacks_of reads of a rollback (query/readmodels/rollbacks.py), kept by timelines.py.
ROLLBACK_COLUMNS = (
    "event_id, event_seq, service, environment, from_version, to_version, reason, "
    "epoch_us(rolled_back_at) AS rolled_back_at"
)

# The registrations standing at impact start (the latest at or before it per service; at one
# instant the later in the ledger, as service_registration_history says), their edges, and
# the services reached from the incident's by the shortest chain of calls: the first in
# alphabetical order among equally short ones, at most MAX_DEPENDENCY_HOPS away. USING KEY
# keeps one row per service and a service reached is not expanded again, so cycles end.
_DEPENDENCIES = """
WITH RECURSIVE standing AS MATERIALIZED (
    SELECT service, depends_on FROM service_registrations WHERE valid_from <= ?
    QUALIFY row_number() OVER (PARTITION BY service ORDER BY valid_from DESC, event_seq DESC) = 1
),
edges AS MATERIALIZED (SELECT service, unnest(depends_on) AS depends_on FROM standing),
tree(service, depth, path) USING KEY (service) AS (
    SELECT DISTINCT name, 0, [name] FROM unnest(?::VARCHAR[]) AS incident(name)
    UNION
    SELECT e.depends_on, min(t.depth) + 1, min(list_append(t.path, e.depends_on))
    FROM tree t JOIN edges e ON e.service = t.service
    WHERE t.depth < ?
      AND NOT EXISTS (SELECT 1 FROM recurring.tree r WHERE r.service = e.depends_on)
    GROUP BY e.depends_on
)
SELECT service, path FROM tree
"""


# What kept_catalog checks its copy of the catalog against: the file and the registrations.
CATALOG_VERSION = (
    "(SELECT path FROM duckdb_databases() WHERE database_name = current_database()) AS path, "
    "(SELECT [count(*), coalesce(max(event_seq), -1)] FROM service_registrations) AS catalog"
)

# What a suspects call reads by the incident's key (ART look-ups; the opening and the
# resolution as the incident's own read does), and the versions of what it keeps in memory.
# Plain queries, one per table: DuckDB plans a query of scalar subqueries as a join of them,
# which cost more than the queries it saves (on the bench ledger ~6.5 ms against ~5 ms for
# these four). Every attribution comes; ``_standing`` keeps the latest per target (a window
# function in SQL would cost more than the query).
_ATTRIBUTIONS = (
    "SELECT verdict, by_id, target_kind, deployment_event_id, action_event_id, repo, commit, "
    "attributed_at, event_seq FROM attributions WHERE incident = ?"
)
_PATH = "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
# The newest event seq comes from the row groups' statistics (~0.5 ms): while it stays the
# same nothing was written, so what is kept in memory needs no other check.
_NOW = (
    "SELECT (SELECT max(seq) FROM events) AS newest, "
    "(SELECT min(ledger_id) FROM ledger_identity) AS ledger_id"
)
_VERSIONS = """
SELECT (SELECT [count(*), coalesce(max(event_seq), -1)] FROM service_registrations) AS catalog,
  (SELECT [count(*), coalesce(max(event_seq), -1)] FROM people) AS people
"""
# Per ledger file and ledger: the newest seq when the versions were last read, and them.
_KEPT_VERSIONS: dict[tuple[str, str | None], tuple[int, tuple[list[int], list[int]]]] = {}

_TARGET = ("target_kind", "deployment_event_id", "action_event_id", "repo", "commit")


@dataclass(frozen=True)
class IncidentRead:
    """The incident's first opening (as ``incident_opening`` picks it; None if there is no
    such incident), its earliest resolution, the verdicts on it, the catalog's version and
    the people table's (``kept_levels``): its row count and last seq; which ledger the file
    holds (``ledger_identity``; None in a file written without one) and its newest event seq
    (-1 when empty)."""

    opening: dict[str, Any] | None
    resolved_at: datetime | None
    verdicts: list[dict[str, Any]]
    catalog_version: tuple[str | None, int, int]
    people_version: tuple[int, int]
    ledger_id: str | None
    newest: int = -1


def incident_read(
    cur: duckdb.DuckDBPyConnection, incident: str, position: ReadPosition | None = None
) -> IncidentRead:
    """``position``: the ledger file's, when the caller knows it (``Ledger.read_position``;
    saves a query). The incident's rows come from this process's copy
    (query/suspects/keptincidents.py) when it keeps one."""
    if position is None:
        path = single_value(cur.execute(_PATH))
        newest, ledger_id = single_row(cur.execute(_NOW))
        newest = -1 if newest is None else newest
    else:
        path, ledger_id, newest = position
    kept = kept_incidents(cur, path, ledger_id, newest)
    if kept is None:
        opening = incident_opening(cur, incident)
    else:
        opening = first_opening(kept.openings(incident))
    if opening is None:
        return IncidentRead(None, None, [], (None, 0, -1), (0, -1), None)
    if kept is None:
        resolved_at = resolved_at_of(cur, incident)
        attributions = rows_as_dicts(cur.execute(_ATTRIBUTIONS, [incident]))
    else:
        resolved_at = kept.resolved_at(incident)
        attributions = kept.attributions(incident)
    catalog, people = _versions(cur, path, ledger_id, newest)
    return IncidentRead(
        opening,
        resolved_at,
        _standing(attributions),
        (path, catalog[0], catalog[1]),
        (people[0], people[1]),
        ledger_id,
        newest,
    )


def _versions(
    cur: duckdb.DuckDBPyConnection, path: str | None, ledger_id: str | None, newest: int
) -> tuple[list[int], list[int]]:
    """The catalog's and people's versions, read again only when an event was written since
    they were last read for this ledger file (or it has no path: an in-memory ledger)."""
    key = (path or "", ledger_id)
    kept = _KEPT_VERSIONS.get(key) if path else None
    if kept is not None and kept[0] == newest:
        return kept[1]
    catalog, people = single_row(cur.execute(_VERSIONS))
    if path:
        _KEPT_VERSIONS[key] = (newest, (catalog, people))
    return catalog, people


def _standing(attributions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The standing verdict per target: the latest attribution (then the later in the
    ledger) wins."""
    latest: dict[tuple, dict[str, Any]] = {}
    for row in attributions:
        target = tuple(row[column] for column in _TARGET)
        kept = latest.get(target)
        if kept is None or (row["attributed_at"], row["event_seq"]) > (
            kept["attributed_at"],
            kept["event_seq"],
        ):
            latest[target] = row
    return [
        {k: v for k, v in row.items() if k not in ("attributed_at", "event_seq")}
        for row in latest.values()
    ]


def dependency_paths(
    cur: duckdb.DuckDBPyConnection, facts: IncidentFacts
) -> dict[str, tuple[str, ...]]:
    """Per service the incident reaches at impact start: the path from one of its services
    (a path of one for its own). One query, whatever the depth."""
    rows = cur.execute(
        _DEPENDENCIES, [facts.impact, list(facts.services), MAX_DEPENDENCY_HOPS]
    ).fetchall()
    return {service: tuple(path) for service, path in rows}


def _confirmed_ids(verdicts: list[dict[str, Any]], column: str) -> list[str]:
    return [v[column] for v in verdicts if v["verdict"] == "confirmed" and v[column] is not None]


def environments(environment: str | None) -> list[str] | None:
    """The environment names that mean the incident's: case aside, and prod's synonyms."""
    if environment is None:
        return None
    name = environment.lower()
    return sorted(PROD_NAMES) if name in PROD_NAMES else [name]


def _window(facts: IncidentFacts, start: datetime, **more: Any) -> dict[str, Any]:
    """Named parameters of a window query: a list named twice is bound once (binding a list
    parameter costs DuckDB ~50 µs, a hundred services or one name alike)."""
    return {"start": start, "impact": facts.impact, "reach": facts.reach, **more}


def deployments_in_window(
    cur: duckdb.DuckDBPyConnection, facts: IncidentFacts, start: datetime
) -> list[dict[str, Any]]:
    envs = environments(facts.environment)
    return timed(
        cur.execute(
            f"""
            SELECT {DEPLOYMENT_COLUMNS} FROM deployments
            WHERE deployed_at BETWEEN $start AND $impact AND list_contains($reach, service)
              AND ($envs::VARCHAR[] IS NULL OR list_contains($envs, lower(environment)))
            """,
            _window(facts, start, envs=envs),
        ),
        "deployed_at",
    )


def confirmed_deployments(
    cur: duckdb.DuckDBPyConnection, facts: IncidentFacts, verdicts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    envs = environments(facts.environment)
    rows: list[dict[str, Any]] = []
    # Confirmed targets are listed even outside the window: a responder's word outranks it.
    # A confirmed commit brings the deployments of the incident's services (and their
    # dependencies) that shipped it.
    confirmed = _confirmed_ids(verdicts, "deployment_event_id")
    if confirmed:
        rows += timed(
            rows_by_key(cur, "deployments", "event_id", confirmed, DEPLOYMENT_COLUMNS),
            "deployed_at",
        )
    commits = _confirmed_ids(verdicts, "commit")
    if commits:
        rows += [
            row
            for row in _deployments_shipping(cur, commits)
            if row["service"] in facts.reach
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
    return timed(rows, "deployed_at")


def actions_in_window(
    cur: duckdb.DuckDBPyConnection, facts: IncidentFacts, start: datetime
) -> list[dict[str, Any]]:
    # An action with no service but the incident's environment targets the whole
    # environment (delete_environment), so it touches the incident's services too. An
    # incident that names no environment is taken to be in production for this.
    envs = environments(facts.environment)
    wide = envs if envs is not None else sorted(PROD_NAMES)
    return timed(
        cur.execute(
            f"""
            SELECT {ACTION_COLUMNS} FROM agent_actions
            WHERE acted_at BETWEEN $start AND $impact
              AND (list_contains($reach, service)
                   OR (service IS NULL AND list_contains($wide, lower(environment))))
              AND ($envs::VARCHAR[] IS NULL OR environment IS NULL
                   OR list_contains($envs, lower(environment)))
            """,
            _window(facts, start, envs=envs, wide=wide),
        ),
        "acted_at",
    )


def config_changes_in_window(
    cur: duckdb.DuckDBPyConnection, facts: IncidentFacts, start: datetime
) -> list[dict[str, Any]]:
    """Configuration changes on the services the incident reaches (naming one as their
    service or their resource), or with no service on its environment, in the window. As for
    agent actions, an incident that names no environment is taken to be in production for
    the environment-wide ones."""
    envs = environments(facts.environment)
    wide = envs if envs is not None else sorted(PROD_NAMES)
    return timed(
        cur.execute(
            f"""
            SELECT {CONFIG_COLUMNS} FROM config_changes
            WHERE changed_at BETWEEN $start AND $impact
              AND (list_contains($reach, target_service)
                   OR list_contains($reach, target_resource)
                   OR (target_service IS NULL
                       AND list_contains($wide, lower(target_environment))))
              AND ($envs::VARCHAR[] IS NULL OR target_environment IS NULL
                   OR list_contains($envs, lower(target_environment)))
            """,
            _window(facts, start, envs=envs, wide=wide),
        ),
        "changed_at",
    )


def config_changes_after(
    cur: duckdb.DuckDBPyConnection, facts: IncidentFacts, keys: list[str]
) -> list[dict[str, Any]]:
    """The configuration changes of these keys from impact start to resolution (or now):
    those that may have put back what a candidate set (query/readmodels/rollbacks.py)."""
    if not keys:
        return []
    return timed(
        cur.execute(
            f"""
            SELECT {LATER_CONFIG_COLUMNS} FROM config_changes
            WHERE changed_at > ? AND (?::TIMESTAMPTZ IS NULL OR changed_at <= ?)
              AND list_contains(?, key)
            """,
            [facts.impact, facts.resolved_at, facts.resolved_at, keys],
        ),
        "changed_at",
    )


def config_ai(cur: duckdb.DuckDBPyConnection, seqs: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Per configuration change (event seq): the AI tools that made it, in event order."""
    if not seqs:
        return {}
    # The range lets zone maps skip row groups: the table is written in seq order.
    rows = rows_as_dicts(
        cur.execute(
            "SELECT event_seq, tool, model, mode, lines, session FROM config_change_ai "
            f"WHERE event_seq BETWEEN ? AND ? AND event_seq IN {in_list(seqs)} ORDER BY rowid",
            [min(seqs), max(seqs), *seqs],
        )
    )
    out: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row.pop("event_seq"), []).append(row)
    return out


def confirmed_actions(
    cur: duckdb.DuckDBPyConnection, verdicts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    confirmed = _confirmed_ids(verdicts, "action_event_id")
    return timed(
        rows_by_key(cur, "agent_actions", "event_id", confirmed, ACTION_COLUMNS), "acted_at"
    )


def timed(
    rows: list[dict[str, Any]] | duckdb.DuckDBPyConnection, column: str
) -> list[dict[str, Any]]:
    """The rows (or the cursor's), with ``column`` (read as epoch_us) a datetime again."""
    if not isinstance(rows, list):
        rows = rows_as_dicts(rows)
    for row in rows:
        row[column] = utc_from_micros(row[column])
    return rows
