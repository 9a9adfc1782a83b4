"""The window look-ups of query/suspects/gather.py answered from the kept timelines
(query/suspects/timelines.py) instead of SQL: the same rules, stated over the columns of
query/suspects/picked.py, giving the same rows in the same order
(tests/integration/test_suspects_timelines.py holds the two to each other)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from provenance_ledger.query.readmodels.incidents import micros_from_utc as micros
from provenance_ledger.query.readmodels.incidents import utc_from_micros
from provenance_ledger.query.suspects.gather import environments, timed
from provenance_ledger.query.suspects.model import IncidentFacts
from provenance_ledger.query.suspects.picked import Part, Picked
from provenance_ledger.query.suspects.timelines import Timelines
from provenance_ledger.query.suspects.weights import PROD_NAMES

_LATEST = 2**63 - 1
# What config_changes_after selects (gather.LATER_CONFIG_COLUMNS).
_LATER = (
    "event_id",
    "event_seq",
    "target_service",
    "target_environment",
    "target_region",
    "target_resource",
    "key",
    "from_value",
    "to_value",
    "changed_at",
)
_ROLLBACK = (
    "event_id",
    "service",
    "environment",
    "from_version",
    "to_version",
    "reason",
    "rolled_back_at",
)


@dataclass(frozen=True)
class Window:
    """An incident's deployments and configuration changes in its window, not yet made
    dicts (query/suspects/windowdrop.py narrows them first), and the timelines they were
    read from."""

    deployments: Picked
    configs: Picked
    timelines: Timelines

    def rows(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The deployment and configuration change rows, as gather's SQL gives them."""
        return (
            timed(self.deployments.rows(), "deployed_at"),
            timed(self.configs.rows(), "changed_at"),
        )


def window(timelines: Timelines, facts: IncidentFacts, start: datetime) -> Window:
    envs = environments(facts.environment)
    wide = envs if envs is not None else sorted(PROD_NAMES)
    reach = facts.reach

    def deployment(part: Part) -> np.ndarray:
        reached = part.among("service", reach)
        return reached if envs is None else reached & part.among("env_lower", envs)

    def config(part: Part) -> np.ndarray:
        targeted = part.among("target_service", reach) | part.among("target_resource", reach)
        targeted |= part.is_null("target_service") & part.among("env_lower", wide)
        return _allowed(part, targeted, envs, "target_environment")

    return Window(
        _picked(timelines, "deployments", facts, start, deployment),
        _picked(timelines, "config_changes", facts, start, config),
        timelines,
    )


def _picked(
    timelines: Timelines,
    table: str,
    facts: IncidentFacts,
    start: datetime,
    mask: Callable[[Part], np.ndarray],
) -> Picked:
    return Picked.of(timelines[table].between(micros(start), micros(facts.impact)), mask)


def _allowed(
    part: Part, targeted: np.ndarray, envs: list[str] | None, environment: str
) -> np.ndarray:
    """``targeted AND ($envs IS NULL OR env IS NULL OR list_contains($envs, lower(env)))``."""
    if envs is None:
        return targeted
    return targeted & (part.is_null(environment) | part.among("env_lower", envs))


def actions_in_window(
    timelines: Timelines, facts: IncidentFacts, start: datetime
) -> list[dict[str, Any]]:
    envs = environments(facts.environment)
    wide = envs if envs is not None else sorted(PROD_NAMES)
    reach = facts.reach

    def action(part: Part) -> np.ndarray:
        targeted = part.among("service", reach)
        targeted |= part.is_null("service") & part.among("env_lower", wide)
        return _allowed(part, targeted, envs, "environment")

    found = _picked(timelines, "agent_actions", facts, start, action)
    return timed(found.rows(), "acted_at")


def config_changes_after(
    timelines: Timelines, facts: IncidentFacts, keys: list[str]
) -> list[dict[str, Any]]:
    if not keys:
        return []
    until = _LATEST if facts.resolved_at is None else micros(facts.resolved_at)
    parts = timelines["config_changes"].between(micros(facts.impact) + 1, until)
    found = Picked.of(parts, lambda part: part.among("key", keys))
    return timed(found.rows(_LATER), "changed_at")


class KeptRollbackReads:
    """``RollbackReads`` (query/readmodels/rollbacks.py) from the kept timelines."""

    def __init__(self, timelines: Timelines) -> None:
        self._timelines = timelines

    def between(
        self, since: datetime, until: datetime | None, services: list[str]
    ) -> list[dict[str, Any]]:
        parts = self._timelines["rollbacks"].between(
            micros(since), _LATEST if until is None else micros(until)
        )
        found = Picked.of(parts, lambda part: part.among("service", services)).rows()
        found.sort(key=lambda row: (row["rolled_back_at"], row["event_seq"]))
        rows = [{column: row[column] for column in _ROLLBACK} for row in found]
        return timed(rows, "rolled_back_at")

    def latest(
        self,
        where: tuple[str, str],
        version: str | None,
        before: tuple[datetime, int | None],
        since: datetime | None,
    ) -> tuple[datetime, int] | None:
        at, seq = before
        low = -_LATEST if since is None else micros(since)
        found = self._timelines["deployments"].latest_at(where, version, micros(at), seq, low)
        return None if found is None else (utc_from_micros(found[0]), found[1])
