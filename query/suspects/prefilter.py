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
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

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
    free = [
        (d["event_seq"], *_deployment_bounds(facts, d, d["event_seq"] in repeats))
        for d in deployments
        if d["event_seq"] not in keep and start <= d["deployed_at"] <= facts.impact
    ]
    free += [
        (c["event_seq"], *_config_bounds(facts, c))
        for c in configs
        if c["event_seq"] not in keep and start <= c["changed_at"] <= facts.impact
    ]
    if limit < 1 or len(free) < limit:
        return deployments, configs
    # Each free row ranks by evidence (no verdict touches it): ``limit`` of them are at least
    # as good as the ``limit``-th worst case, so whoever's best case is below it cannot rank.
    pivot = sorted((low for _, low, _ in free), reverse=True)[limit - 1]
    dropped = {seq for seq, _, up in free if up < pivot}
    return (
        [d for d in deployments if d["event_seq"] not in dropped],
        [c for c in configs if c["event_seq"] not in dropped],
    )


def _deployment_bounds(
    facts: IncidentFacts, d: dict[str, Any], repeat: bool
) -> tuple[float, float]:
    """A deployment's worst and best logit once its changes are known (``ranking.bounded``):
    what it shipped adds up to the risk cap or takes off the docs-only penalty."""
    base = _common(facts, d["deployed_at"], d["environment"], d["region"], d["service"])
    base += _rollout(d["fleet_percent"]) + (WEIGHTS["redeploy"] if repeat else 0.0)
    return base + WEIGHTS["docs_only"] - _MARGIN, base + WEIGHTS["risk_cap"] + _MARGIN


def _config_bounds(facts: IncidentFacts, c: dict[str, Any]) -> tuple[float, float]:
    """A configuration change's worst and best logit (``signals.configured``): what the
    commit it was applied from says can only add risk, up to the cap."""
    base = _common(
        facts,
        c["changed_at"],
        c["target_environment"],
        c["target_region"],
        c["target_service"],
        c["target_resource"],
    )
    action = c["action"]
    if action and DESTRUCTIVE_CONFIG.search(action.lower()):
        base += WEIGHTS["destructive_config_change"]
    by_ai = bool(c["ai_tools"]) or c["actor_kind"] == "ai_agent"
    low = base + min(WEIGHTS["ai_config_change"] if by_ai else 0.0, WEIGHTS["risk_cap"])
    low += _rollout(c["fleet_percent"])
    up = low + (WEIGHTS["risk_cap"] if c["commit"] else 0.0)
    return low - _MARGIN, up + _MARGIN


def _common(
    facts: IncidentFacts,
    at: datetime,
    environment: str | None,
    region: str | None,
    *names: str | None,
) -> float:
    """What ``ranking._time_and_place`` adds, and the bias: distance in time, hops, and the
    environment and region against the incident's."""
    minutes = (facts.impact - at).total_seconds() / 60
    logit = BIAS + WEIGHTS["time_per_doubling"] * math.log2(1 + minutes / 10)
    path = facts.path_to(*names)
    if path:
        logit += WEIGHTS["dependency_hop"] * (len(path) - 1)
    if facts.environment is None and (environment or "").lower() not in PROD_NAMES:
        logit += WEIGHTS["non_production"]
    if facts.region and region:
        same = region.lower() == facts.region.lower()
        logit += WEIGHTS["same_region" if same else "other_region"]
    return logit


def _rollout(fleet_percent: float | None) -> float:
    if fleet_percent is None or fleet_percent >= 100:
        return 0.0
    return WEIGHTS["partial_rollout"] * (1 - fleet_percent / 100)
