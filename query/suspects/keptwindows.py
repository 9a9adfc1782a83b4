"""The window look-ups of query/suspects/gather.py answered from the kept timelines
(query/suspects/timelines.py) instead of SQL: the same rules, stated over Arrow columns,
giving the same rows in the same order (tests/integration/test_suspects_timelines.py holds
the two to each other)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from provenance_ledger.query.readmodels.incidents import utc_from_micros
from provenance_ledger.query.suspects.gather import environments, timed
from provenance_ledger.query.suspects.model import IncidentFacts
from provenance_ledger.query.suspects.timelines import Timelines, rows_between
from provenance_ledger.query.suspects.weights import PROD_NAMES

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
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


def micros(at: datetime) -> int:
    """``epoch_us`` of an aware datetime, exactly."""
    return (at - _EPOCH) // timedelta(microseconds=1)


def _among(column: pa.ChunkedArray, names: list[str] | tuple[str, ...]) -> pa.ChunkedArray:
    return pc.is_in(column, value_set=pa.array(list(names), pa.string()))


def deployments_in_window(
    timelines: Timelines, facts: IncidentFacts, start: datetime
) -> list[dict[str, Any]]:
    envs = environments(facts.environment)

    def keep(rows: pa.Table) -> pa.ChunkedArray:
        reached = _among(rows.column("service"), facts.reach)
        return reached if envs is None else pc.and_(reached, _among(rows.column("env_lower"), envs))

    found = rows_between(timelines["deployments"], micros(start), micros(facts.impact), keep)
    return timed(found, "deployed_at")


def _allowed(
    rows: pa.Table, targeted: pa.ChunkedArray, envs: list[str] | None, environment: str
) -> pa.ChunkedArray:
    """``targeted AND ($envs IS NULL OR env IS NULL OR list_contains($envs, lower(env)))``."""
    if envs is None:
        return targeted
    column = rows.column(environment)
    return pc.and_(targeted, pc.or_(pc.is_null(column), _among(rows.column("env_lower"), envs)))


def actions_in_window(
    timelines: Timelines, facts: IncidentFacts, start: datetime
) -> list[dict[str, Any]]:
    envs = environments(facts.environment)
    wide = envs if envs is not None else sorted(PROD_NAMES)

    def keep(rows: pa.Table) -> pa.ChunkedArray:
        service = rows.column("service")
        targeted = pc.or_(
            _among(service, facts.reach),
            pc.and_(pc.is_null(service), _among(rows.column("env_lower"), wide)),
        )
        return _allowed(rows, targeted, envs, "environment")

    found = rows_between(timelines["agent_actions"], micros(start), micros(facts.impact), keep)
    return timed(found, "acted_at")


def config_changes_in_window(
    timelines: Timelines, facts: IncidentFacts, start: datetime
) -> list[dict[str, Any]]:
    envs = environments(facts.environment)
    wide = envs if envs is not None else sorted(PROD_NAMES)

    def keep(rows: pa.Table) -> pa.ChunkedArray:
        service = rows.column("target_service")
        targeted = pc.or_(
            pc.or_(
                _among(service, facts.reach), _among(rows.column("target_resource"), facts.reach)
            ),
            pc.and_(pc.is_null(service), _among(rows.column("env_lower"), wide)),
        )
        return _allowed(rows, targeted, envs, "target_environment")

    found = rows_between(timelines["config_changes"], micros(start), micros(facts.impact), keep)
    return timed(found, "changed_at")


def config_changes_after(
    timelines: Timelines, facts: IncidentFacts, keys: list[str]
) -> list[dict[str, Any]]:
    if not keys:
        return []
    until = _LATEST if facts.resolved_at is None else micros(facts.resolved_at)
    found = rows_between(
        timelines["config_changes"],
        micros(facts.impact) + 1,
        until,
        lambda rows: _among(rows.column("key"), keys),
    )
    return timed([{column: row[column] for column in _LATER} for row in found], "changed_at")


class KeptRollbackReads:
    """``RollbackReads`` (query/readmodels/rollbacks.py) from the kept timelines."""

    def __init__(self, timelines: Timelines) -> None:
        self._timelines = timelines

    def between(
        self, since: datetime, until: datetime | None, services: list[str]
    ) -> list[dict[str, Any]]:
        found = rows_between(
            self._timelines["rollbacks"],
            micros(since),
            _LATEST if until is None else micros(until),
            lambda rows: _among(rows.column("service"), services),
        )
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
