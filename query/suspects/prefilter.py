"""Which candidate rows cannot reach the top ``limit``, found before any is built or scored.

Building a candidate and scoring it (reasons in words included) costs tens of microseconds;
with a dependency graph an incident has hundreds of rows in its window, and most are hours
away from impact. ``ranking.pruned`` drops those whose best case stays below the
``limit``-th best worst case; this finds the same rows from the bare numbers: time, hops,
environment, region, rollout and what a configuration change did. A row is kept when it
might rank, so it drops a subset of what ``pruned`` drops and the answer is unchanged
(tests/integration/test_suspects_pruning.py holds it to that).

Rows whose score does not follow from those numbers alone are always kept, for
``ranking.bounded`` to judge in full: targets of a verdict, rows outside the window, rows a
rollback or a later configuration change reverted, and agent actions (a few per incident).

The bounds are worked out a column at a time (``Columns``), so the same arithmetic serves
the rows gather's SQL gives (``kept_rows``) and a window still in Arrow
(query/suspects/windowdrop.py), where it runs before any row becomes a Python dict.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from provenance_ledger.query.readmodels.incidents import micros_from_utc
from provenance_ledger.query.suspects.model import IncidentFacts
from provenance_ledger.query.suspects.weights import (
    BIAS,
    DESTRUCTIVE_CONFIG,
    PROD_NAMES,
    WEIGHTS,
)

# Bounds are sums of the same weights in another order: a margin keeps rounding on the
# side of keeping a row.
_MARGIN = 1e-9

# One table's rows a column each (as ``pyarrow.Table.to_pydict`` gives them), times as
# epoch_us: what the bounds below read of gather's columns.
Columns = dict[str, list[Any]]
DEPLOYMENT_BOUND_COLUMNS = ("service", "environment", "region", "fleet_percent", "deployed_at")
CONFIG_BOUND_COLUMNS = (
    "target_service",
    "target_resource",
    "target_environment",
    "target_region",
    "fleet_percent",
    "action",
    "ai_tools",
    "actor_kind",
    "commit",
    "changed_at",
)


def kept_rows(
    facts: IncidentFacts,
    start: datetime,
    rows: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    keep: set[int],
    repeats: dict[int, str],
    limit: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The deployment and configuration change rows (gather's) that may still rank; ``keep``:
    seqs always kept; ``repeats``: finder's redeploys (seq: version repeated)."""
    deployments, configs = rows
    free_deployments = [
        d
        for d in deployments
        if d["event_seq"] not in keep and start <= d["deployed_at"] <= facts.impact
    ]
    free_configs = [
        c
        for c in configs
        if c["event_seq"] not in keep and start <= c["changed_at"] <= facts.impact
    ]
    if limit < 1 or len(free_deployments) + len(free_configs) < limit:
        return deployments, configs
    repeat = [d["event_seq"] in repeats for d in free_deployments]
    deployment_low, deployment_up = deployment_bounds(
        facts, _columns(free_deployments, DEPLOYMENT_BOUND_COLUMNS), repeat, repeat
    )
    config_low, config_up = config_bounds(facts, _columns(free_configs, CONFIG_BOUND_COLUMNS))
    pivot = pivot_of(np.concatenate([deployment_low, config_low]), limit)
    dropped = {
        row["event_seq"]
        for rows, ups in ((free_deployments, deployment_up), (free_configs, config_up))
        for row, up in zip(rows, ups, strict=True)
        if up < pivot
    }
    return (
        [d for d in deployments if d["event_seq"] not in dropped],
        [c for c in configs if c["event_seq"] not in dropped],
    )


def pivot_of(lows: np.ndarray, limit: int) -> float:
    """The ``limit``-th best worst case among rows that rank by evidence (no verdict touches
    them): ``limit`` of them are at least that good, so whoever's best case is below it
    cannot rank."""
    return float(np.partition(lows, len(lows) - limit)[len(lows) - limit])


def _columns(rows: list[dict[str, Any]], names: Sequence[str]) -> Columns:
    columns = {name: [row[name] for row in rows] for name in names}
    for name in ("deployed_at", "changed_at"):
        if name in columns:
            columns[name] = [micros_from_utc(at) for at in columns[name]]
    return columns


def deployment_bounds(
    facts: IncidentFacts,
    columns: Columns,
    repeat_low: Sequence[bool],
    repeat_up: Sequence[bool],
) -> tuple[np.ndarray, np.ndarray]:
    """Each deployment's worst and best logit once its changes are known (``ranking.bounded``):
    what it shipped adds up to the risk cap or takes off the docs-only penalty. The redeploy
    penalty counts in the worst case where ``repeat_low`` and in the best where
    ``repeat_up`` (the same when repeats are known; all and none when only possible)."""
    names = zip(columns["service"], strict=True)
    base = _time(facts, columns["deployed_at"])
    base += _places(facts, columns["environment"], columns["region"], names)
    base += _rollout(columns["fleet_percent"])
    redeploy = WEIGHTS["redeploy"]
    low = base + WEIGHTS["docs_only"] + redeploy * np.asarray(repeat_low, dtype=bool)
    up = base + WEIGHTS["risk_cap"] + redeploy * np.asarray(repeat_up, dtype=bool)
    return low - _MARGIN, up + _MARGIN


def config_bounds(facts: IncidentFacts, columns: Columns) -> tuple[np.ndarray, np.ndarray]:
    """Each configuration change's worst and best logit (``signals.configured``): what the
    commit it was applied from says can only add risk, up to the cap."""
    names = zip(columns["target_service"], columns["target_resource"], strict=True)
    low = _time(facts, columns["changed_at"])
    low += _places(facts, columns["target_environment"], columns["target_region"], names)
    destructive = [bool(a and DESTRUCTIVE_CONFIG.search(a.lower())) for a in columns["action"]]
    low += WEIGHTS["destructive_config_change"] * np.asarray(destructive, dtype=bool)
    by_ai = [
        bool(tools) or kind == "ai_agent"
        for tools, kind in zip(columns["ai_tools"], columns["actor_kind"], strict=True)
    ]
    ai_weight = min(WEIGHTS["ai_config_change"], WEIGHTS["risk_cap"])
    low += ai_weight * np.asarray(by_ai, dtype=bool) + _rollout(columns["fleet_percent"])
    applied = np.asarray([commit is not None and commit != "" for commit in columns["commit"]])
    up = low + WEIGHTS["risk_cap"] * applied.astype(bool)
    return low - _MARGIN, up + _MARGIN


def _time(facts: IncidentFacts, at: Sequence[int]) -> np.ndarray:
    """The bias and what ``ranking._time_and_place`` gives the distance in time (every row
    here is at or before impact)."""
    before = micros_from_utc(facts.impact) - np.asarray(at, dtype=np.int64)
    minutes = before.astype(np.float64) / 60e6
    return BIAS + WEIGHTS["time_per_doubling"] * np.log2(1 + minutes / 10)


def _places(
    facts: IncidentFacts,
    environments: Sequence[str | None],
    regions: Sequence[str | None],
    names: Iterable[tuple[str | None, ...]],
) -> np.ndarray:
    """What ``ranking._time_and_place`` gives hops, environment and region; each worked out
    once per distinct value (rows share a few environments and regions, and services)."""
    weights = _each(names, lambda row: _hops(facts, row))
    if facts.environment is None:
        weights += _each(environments, lambda env: _non_production(env))
    incident_region = facts.region
    if incident_region:
        weights += _each(regions, lambda region: _region(incident_region, region))
    return weights


def _each(values: Iterable[Any], weight: Callable[[Any], float]) -> np.ndarray:
    seen: dict[Any, float] = {}
    out = []
    for value in values:
        found = seen.get(value)
        if found is None:
            found = seen[value] = weight(value)
        out.append(found)
    return np.asarray(out, dtype=np.float64)


def _hops(facts: IncidentFacts, names: tuple[str | None, ...]) -> float:
    path = facts.path_to(*names)
    return WEIGHTS["dependency_hop"] * (len(path) - 1) if path else 0.0


def _non_production(environment: str | None) -> float:
    return 0.0 if (environment or "").lower() in PROD_NAMES else WEIGHTS["non_production"]


def _region(incident_region: str, region: str | None) -> float:
    if not region:
        return 0.0
    same = region.lower() == incident_region.lower()
    return WEIGHTS["same_region" if same else "other_region"]


def _rollout(fleet_percent: Sequence[float | None]) -> np.ndarray:
    share = np.asarray([100.0 if f is None else f for f in fleet_percent], dtype=np.float64)
    return np.where(share >= 100, 0.0, WEIGHTS["partial_rollout"] * (1 - share / 100))
