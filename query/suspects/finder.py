"""Gather suspect candidates for an incident from the ledger and rank them.

The SQL here and in query/suspects/gather.py only collects facts (the services the incident
reaches, candidates, what they shipped, rollbacks and reverts, verdicts);
query/suspects/candidates.py makes candidates of them and query/suspects/ranking.py turns
those into scores and reasons. docs/ranking.md documents both.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import duckdb

from provenance_ledger.ledger.store import ReadPosition
from provenance_ledger.query.policy.definitions import Seniority
from provenance_ledger.query.policy.inforce import seniority_in_force
from provenance_ledger.query.policy.levels import Levels, load_levels
from provenance_ledger.query.readmodels.changes import (
    Pair,
    change_details,
    shipped_and_applied,
    shipped_by,
)
from provenance_ledger.query.readmodels.rollbacks import Reverted, config_reverts, rollbacks_of
from provenance_ledger.query.suspects import keptwindows as kept_windows
from provenance_ledger.query.suspects.candidates import (
    action_candidate,
    as_api,
    config_candidate,
    deployment_candidate,
)
from provenance_ledger.query.suspects.dependencies import reach
from provenance_ledger.query.suspects.gather import (
    actions_in_window,
    config_ai,
    config_changes_after,
    config_changes_in_window,
    confirmed_actions,
    confirmed_deployments,
    deployments_in_window,
    incident_read,
)
from provenance_ledger.query.suspects.keptfacts import KeptFacts, kept_facts
from provenance_ledger.query.suspects.keptwindows import Window
from provenance_ledger.query.suspects.model import Candidate, IncidentFacts, Revert, Scored
from provenance_ledger.query.suspects.people import kept_levels
from provenance_ledger.query.suspects.prefilter import kept_rows
from provenance_ledger.query.suspects.ranking import bounded, most_promising, pruned, rank
from provenance_ledger.query.suspects.timelines import Timelines, kept_timelines
from provenance_ledger.query.suspects.windowdrop import narrowed

# How many candidates get their changes looked up at a time, most promising first.
DETAILED = 15


def suspects_for(
    cur: duckdb.DuckDBPyConnection,
    incident_id: str,
    lookback: timedelta,
    limit: int,
    position: ReadPosition | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """The incident (as ``find_incident`` gives it) and the API's suspects list for it; None
    if the ledger has no such incident.

    The incident's opening, resolution and verdicts come in one query; then the services it
    reaches (its own and their dependencies as registered at impact start); then the
    incident's region and the deployments, agent actions and configuration changes in the
    window. Who is senior is as the policy in force says. ``position``: the ledger file's
    (``Ledger.read_position``), when the caller has the ledger (saves two queries).

    The windows are read from this process's kept timelines (query/suspects/timelines.py)
    once they are loaded; with SQL before that and for an in-memory ledger.

    The look-ups run one after another on ``cur``: on threads of their own (DuckDB releases
    the GIL) they overlapped, but each costs ~1 ms, mostly planning under the GIL, and the
    threads' hand-offs cost more CPU than the overlap saved on the bench ledger.
    """
    seniority = seniority_in_force()
    read = incident_read(cur, incident_id, position)
    opening, resolved_at, verdicts = read.opening, read.resolved_at, read.verdicts
    if opening is None:
        return None
    region = opening.pop("region")
    where = _incident_facts({**opening, "resolved_at": None, "region": None})
    where = replace(where, paths=reach(cur, where, read.catalog_version))
    start = where.impact - lookback
    path = read.catalog_version[0]
    timelines = kept_timelines(cur, path, read.ledger_id, read.newest)
    window: Window | tuple[list[dict[str, Any]], list[dict[str, Any]]]
    if timelines is None:
        window = (
            deployments_in_window(cur, where, start),
            config_changes_in_window(cur, where, start),
        )
        actions = actions_in_window(cur, where, start)
    else:
        window = kept_windows.window(timelines, where, start)
        actions = kept_windows.actions_in_window(timelines, where, start)
    levels = kept_levels(cur, path, read.people_version)
    kept = kept_facts(cur, path, read.ledger_id, read.newest)
    incident = {**opening, "resolved_at": resolved_at, "region": region}
    facts = replace(_incident_facts(incident), paths=where.paths)
    found = Found(verdicts, window, actions, levels, seniority, kept, timelines)
    return incident, _ranked(cur, facts, start, found, limit)


@dataclass(frozen=True)
class Found:
    """What the first round of look-ups found; ``window``: the deployments and configuration
    changes in the window, as rows when read with SQL, in Arrow when from the kept
    ``timelines``. ``levels`` is None when not kept in memory; so is ``kept`` (commit facts
    and what deployments named: read from the ledger then) and ``timelines`` (rollbacks and
    later configuration changes: read with SQL then)."""

    verdicts: list[dict[str, Any]]
    window: Window | tuple[list[dict[str, Any]], list[dict[str, Any]]]
    actions: list[dict[str, Any]]
    levels: Levels | None
    seniority: Seniority
    kept: KeptFacts | None = None
    timelines: Timelines | None = None


def _ranked(
    cur: duckdb.DuckDBPyConnection,
    facts: IncidentFacts,
    start: datetime,
    found: Found,
    limit: int,
) -> list[dict[str, Any]]:
    verdicts = found.verdicts
    deployments, configs, later_configs = _window_rows(cur, facts, start, found, limit)
    actions = _unique_by_seq(found.actions + confirmed_actions(cur, verdicts))
    # What deployments shipped matters before pruning only for verdicts on commits.
    by_commit = any(v["target_kind"] == "commit" for v in verdicts)
    shipped = shipped_by(cur, deployments) if by_commit else {}
    # Rollbacks after the incident resolved say nothing about it.
    if found.timelines is None:
        rollbacks = rollbacks_of(cur, deployments, until=facts.resolved_at)
    else:
        reads = kept_windows.KeptRollbackReads(found.timelines)
        rollbacks = rollbacks_of(cur, deployments, facts.resolved_at, reads)
    levels = found.levels or load_levels(cur, [a["authorized_by_id"] for a in actions])
    reverts = _reverts(facts, rollbacks, configs, later_configs)
    repeats = _redeploys([d for d in deployments if d["deployed_at"] >= start], reverts)
    if not by_commit:
        targets = {v["deployment_event_id"] for v in verdicts}
        keep = {d["event_seq"] for d in deployments if d["event_id"] in targets} | set(reverts)
        deployments, configs = kept_rows(facts, start, (deployments, configs), keep, repeats, limit)
    where = (facts, start)
    candidates = [
        deployment_candidate(
            d,
            shipped.get(d["event_seq"], []),
            reverts,
            verdicts,
            where,
            repeats.get(d["event_seq"]),
        )
        for d in deployments
    ]
    candidates += [action_candidate(a, levels, found.seniority, verdicts, where) for a in actions]
    candidates += [config_candidate(row, reverts, verdicts, facts) for row in configs]
    # Change facts cost index look-ups: fetch them only for those who can still rank, the
    # most promising first, until the rest cannot reach the ``limit``-th scored in full.
    remaining = pruned(bounded(candidates, facts), limit)
    detailed: list[Candidate] = []
    ranked: list[Scored] = []
    while remaining:
        batch, remaining = most_promising(remaining, max(DETAILED, limit + 5))
        batch_candidates = [b.candidate for b in batch]
        detailed += _with_details(
            cur, batch_candidates, deployments, shipped if by_commit else None, found
        )
        ranked = rank(detailed, facts, limit)
        if len(ranked) == limit:
            remaining = [b for b in remaining if b.reaches(ranked[-1])]
    return [as_api(rank_no, item) for rank_no, item in enumerate(ranked, start=1)]


def _window_rows(
    cur: duckdb.DuckDBPyConnection,
    facts: IncidentFacts,
    start: datetime,
    found: Found,
    limit: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The deployments (the window's, narrowed when read from the kept copies, and those a
    verdict confirms), the window's configuration changes, and the changes after impact on
    their keys (after the incident resolved they say nothing about it)."""
    confirmed = confirmed_deployments(cur, facts, found.verdicts)
    if isinstance(found.window, Window):
        in_window, configs, later = narrowed(
            facts, start, found.window, found.verdicts, confirmed, limit
        )
    else:
        in_window, configs = found.window
        keys = sorted({row["key"] for row in configs if row["key"] is not None})
        later = config_changes_after(cur, facts, keys)
    return _unique_by_seq(in_window + confirmed), configs, later


def _with_details(
    cur: duckdb.DuckDBPyConnection,
    candidates: list[Candidate],
    deployments: list[dict[str, Any]],
    shipped: dict[int, list[Pair]] | None,
    found: Found,
) -> list[Candidate]:
    """The deployment candidates with the commits they shipped (``shipped`` when already
    known) and what the ledger knows of each; the configuration changes with what is known of
    the commit each was applied from, and the details of the AI tools that made them. The
    commits of both are looked up at once."""
    configs = [c.config for c in candidates if c.config is not None]
    applied = [(config.repo, config.commit) for config in configs if config.commit]
    by_ai = [c.seq for c in candidates if c.config is not None and c.config.ai_tools]
    wanted = {c.seq for c in candidates}
    facts_of = found.kept.fetch if found.kept else None
    if shipped is not None:
        pairs = [pair for seq, pairs in shipped.items() if seq in wanted for pair in pairs]
        details = change_details(cur, pairs, found.seniority, found.levels, facts_of)
        applied_details = change_details(cur, applied, found.seniority, found.levels, facts_of)
    else:
        wanted_deployments = [d for d in deployments if d["event_seq"] in wanted]
        # Asked with the deployments: kept facts read their packs and AI tools in one statement.
        named_by = partial(found.kept.named, ai_of=set(by_ai)) if found.kept else None
        configs_asked = [
            c.seq
            for c in candidates
            if c.config is not None and (c.config.commit or c.config.ai_tools)
        ]
        shipped, details, applied_details = shipped_and_applied(
            cur,
            wanted_deployments,
            applied,
            found.seniority,
            found.levels,
            facts_of,
            named_by,
            found.kept.built if found.kept else None,
            configs_asked,
        )
    tools = found.kept.ai(cur, by_ai) if found.kept else config_ai(cur, by_ai)
    return [
        replace(
            c,
            commits=tuple(sha for _, sha in shipped.get(c.seq, [])),
            changes=tuple(details[sha] for _, sha in shipped.get(c.seq, []) if sha in details),
        )
        if c.kind == "deployment"
        else replace(
            c,
            changes=tuple(applied_details[sha] for sha in c.commits if sha in applied_details),
            config=replace(c.config, ai=tuple(tools.get(c.seq, ()))),
        )
        if c.config is not None
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
    facts: IncidentFacts,
    rollbacks: tuple[list[dict[str, Any]], Reverted],
    configs: list[dict[str, Any]],
    later_configs: list[dict[str, Any]],
) -> dict[int, list[Revert]]:
    """Per candidate seq: the rollbacks that reverted a deployment, and the configuration
    changes that put back what a candidate change set. One followed by another (of either
    kind) before the incident resolved did not fix it (``superseded``)."""
    found, reverted = rollbacks
    candidates = {row["event_seq"] for row in configs}
    put_back = {
        seq: hits
        for seq, hits in config_reverts(configs + later_configs).items()
        if seq in candidates
    }
    undos = [rb["rolled_back_at"] for rb in found]
    undos += [row["changed_at"] for hits in put_back.values() for row, _ in hits]
    during = [
        at
        for at in undos
        if facts.impact <= at and (facts.resolved_at is None or at <= facts.resolved_at)
    ]

    def revert(event_id: str, at: datetime, count: int, undo: str) -> Revert:
        return Revert(event_id, at, count, any(t > at for t in during), undo)

    out = {
        seq: [revert(rb["event_id"], rb["rolled_back_at"], n, "rollback") for rb, n in hits]
        for seq, hits in reverted.items()
    }
    for seq, changes in put_back.items():
        out[seq] = [
            revert(row["event_id"], row["changed_at"], n, "config change") for row, n in changes
        ]
    return out


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
