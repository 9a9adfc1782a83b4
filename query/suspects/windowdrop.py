"""The rows of an incident's window that cannot reach the top ``limit``, dropped before any
row becomes a dict (query/suspects/keptwindows.py reads the window a column at a time).

With a dependency graph a window holds hundreds of rows and a few dozen can rank; turning
each into a dict with datetimes cost more than the rest of the call. The bounds are the
prefilter's (query/suspects/prefilter.py), so this drops a subset of what it drops, and
leaves every row whose fate depends on other rows:

- the targets of a verdict (they rank by it, not by evidence, so they neither count
  towards the bound nor are dropped by it);
- every deployment on a service+environment a rollback touched since the window opened
  (which deployments a rollback reverted, and how many, is worked out among them), or where
  a deployment a verdict confirms ran (whether it repeats the one before it counts);
- every configuration change that a later one on the same target and key could put back
  (its ``to`` is this one's ``from``: ``rollbacks.config_reverts``'s rule);
- the previous deployment of the same service, environment and region before each row
  kept, whatever its bounds: a restart of the same version is a redeploy only next to it.
  Whether a row repeats is not known here, so its worst case counts the redeploy penalty
  when the version is the previous one's, and its best case never does.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from provenance_ledger.query.readmodels.incidents import micros_from_utc
from provenance_ledger.query.suspects.keptwindows import (
    KeptRollbackReads,
    Window,
    config_changes_after,
)
from provenance_ledger.query.suspects.model import IncidentFacts
from provenance_ledger.query.suspects.picked import Picked
from provenance_ledger.query.suspects.prefilter import (
    CONFIG_BOUND_COLUMNS,
    DEPLOYMENT_BOUND_COLUMNS,
    config_bounds,
    deployment_bounds,
    pivot_of,
)

Rows = list[dict[str, Any]]
# Where a configuration change applies, and to what (``rollbacks.config_reverts``).
_TARGET = ("target_service", "target_environment", "target_region", "target_resource", "key")


@dataclass(frozen=True)
class Kept:
    """What stays whatever its bounds: deployments by event id and by (service,
    environment); configuration changes by position in the window."""

    deployment_ids: frozenset[str]
    places: frozenset[tuple[str, str]]
    configs: np.ndarray


def narrowed(
    facts: IncidentFacts,
    start: datetime,
    window: Window,
    verdicts: Rows,
    confirmed: Rows,
    limit: int,
) -> tuple[Rows, Rows, Rows]:
    """The window's deployments and configuration changes that may rank (all of them when a
    verdict names a commit: what each shipped decides then), as gather's rows; and the
    configuration changes after impact on the keys of the window's (gather's
    ``config_changes_after``). ``confirmed``: the deployments verdicts name."""
    keys = window.configs.column("key")
    later = config_changes_after(
        window.timelines, facts, sorted({key for key in keys if key is not None})
    )
    if not any(v["target_kind"] == "commit" for v in verdicts):
        since = min([start, *(d["deployed_at"] for d in confirmed)])
        services = sorted({*facts.reach, *(d["service"] for d in confirmed)})
        rollbacks = KeptRollbackReads(window.timelines).between(since, facts.resolved_at, services)
        places = {(rb["service"], rb["environment"]) for rb in rollbacks}
        places |= {(d["service"], d["environment"]) for d in confirmed}
        kept = Kept(
            frozenset(v["deployment_event_id"] for v in verdicts if v["deployment_event_id"]),
            frozenset(places),
            _may_be_put_back(window.configs, later),
        )
        window = may_rank(facts, window, kept, limit)
    deployments, configs = window.rows()
    return deployments, configs, later


def _may_be_put_back(configs: Picked, later: Rows) -> np.ndarray:
    """Per configuration change of the window: whether a later change in the window or after
    impact (``later``) on the same target and key sets what it changed from."""
    keys = configs.column("key")
    seen = Counter([*keys, *(row["key"] for row in later)])
    out = np.zeros(len(keys), dtype=bool)
    # Only a key that comes up again can be put back.
    again = [position for position, key in enumerate(keys) if key is not None and seen[key] > 1]
    if not again:
        return out
    columns = {name: configs.column(name) for name in (*_TARGET, "changed_at", "event_seq")}
    changes = [
        (
            tuple(columns[name][position] for name in _TARGET),
            (columns["changed_at"][position], columns["event_seq"][position]),
            configs.column("from_value")[position],
            configs.column("to_value")[position],
        )
        for position in again
    ]
    sets: dict[tuple, list[tuple[tuple[int, int], str]]] = {}
    for target, moment, _, to in changes:
        if to is not None:
            sets.setdefault(target, []).append((moment, to))
    for row in later:
        if row["key"] is not None and row["to_value"] is not None:
            moment = (micros_from_utc(row["changed_at"]), row["event_seq"])
            sets.setdefault(tuple(row[name] for name in _TARGET), []).append(
                (moment, row["to_value"])
            )
    for position, (target, moment, from_value, _) in zip(again, changes, strict=True):
        out[position] = any(when > moment and to == from_value for when, to in sets.get(target, ()))
    return out


def may_rank(facts: IncidentFacts, window: Window, kept: Kept, limit: int) -> Window:
    """``window`` without the rows that cannot reach the top ``limit``."""
    deployments = {
        name: window.deployments.column(name)
        for name in (*DEPLOYMENT_BOUND_COLUMNS, "event_id", "event_seq", "version")
    }
    configs = {name: window.configs.column(name) for name in CONFIG_BOUND_COLUMNS}
    stay_deployments = np.asarray(
        [
            event_id in kept.deployment_ids or place in kept.places
            for event_id, place in zip(
                deployments["event_id"],
                zip(deployments["service"], deployments["environment"], strict=True),
                strict=True,
            )
        ],
        dtype=bool,
    )
    free = int((~stay_deployments).sum() + (~kept.configs).sum())
    if limit < 1 or free < limit:
        return window
    previous = _previous(deployments)
    same_version = [
        before >= 0 and deployments["version"][before] == version
        for before, version in zip(previous, deployments["version"], strict=True)
    ]
    deployment_low, deployment_up = deployment_bounds(
        facts, deployments, same_version, [False] * len(same_version)
    )
    config_low, config_up = config_bounds(facts, configs)
    pivot = pivot_of(
        np.concatenate([deployment_low[~stay_deployments], config_low[~kept.configs]]), limit
    )
    chosen = stay_deployments | (deployment_up >= pivot)
    before_chosen = [before for before, keep in zip(previous, chosen, strict=True) if keep]
    chosen[[before for before in before_chosen if before >= 0]] = True
    return Window(
        window.deployments.kept(chosen),
        window.configs.kept(kept.configs | (config_up >= pivot)),
        window.timelines,
    )


def _previous(deployments: dict[str, list[Any]]) -> list[int]:
    """Per row: the position of the deployment of the same service, environment and region
    just before it in (time, seq) order, or -1 (as finder._redeploys pairs them)."""
    places = list(
        zip(
            deployments["service"],
            deployments["environment"],
            deployments["region"],
            strict=True,
        )
    )
    moments = list(zip(deployments["deployed_at"], deployments["event_seq"], strict=True))
    order = sorted(range(len(places)), key=moments.__getitem__)
    previous = [-1] * len(places)
    latest: dict[tuple, int] = {}
    for position in order:
        previous[position] = latest.get(places[position], -1)
        latest[places[position]] = position
    return previous
