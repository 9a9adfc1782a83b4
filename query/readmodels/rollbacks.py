"""Which deployments rollbacks reverted, computed for a given set of deployments; and which
configuration changes later ones put back (``config_reverts``).

The rule of CONTRACT §1, as the ``rollback_reverts`` view states it for the whole ledger:
a rollback reverts every deployment of its service+environment after the one that brought
``to_version``, up to and including the one that brought ``from_version`` (the latest at
or before the rollback; without ``from_version``, the latest deployment before it). Without
a known ``to_version`` deployment only the ``from_version`` one counts. Here both bounds
are found by version (an index look-up) instead of over every rollback in the ledger.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import duckdb

from provenance_ledger.query.readmodels.incidents import rows_as_dicts

Reverted = dict[int, list[tuple[dict[str, Any], int]]]
Moment = tuple[datetime, int]


class RollbackReads(Protocol):
    """What working out reverts reads: SQL by default (``SqlReads``); the suspects call
    reads its kept timelines instead (query/suspects/keptwindows.py)."""

    def between(
        self, since: datetime, until: datetime | None, services: list[str]
    ) -> list[dict[str, Any]]:
        """The rollbacks of ``services`` from ``since`` to ``until`` (or the newest), by time
        then seq."""
        ...

    def latest(
        self,
        where: tuple[str, str],
        version: str | None,
        before: tuple[datetime, int | None],
        since: datetime | None,
    ) -> Moment | None:
        """(time, seq) of the latest deployment of ``where`` (service, environment) of
        ``version`` (any if None) before ``before`` (at its instant too when ``before``
        carries no seq), not earlier than ``since``."""
        ...


def rollbacks_of(
    cur: duckdb.DuckDBPyConnection,
    deployments: list[dict[str, Any]],
    until: datetime | None = None,
    reads: RollbackReads | None = None,
) -> tuple[list[dict[str, Any]], Reverted]:
    """The rollbacks of these deployments' service+environment since the earliest of them
    (and up to ``until``), and per deployment seq: (rollback, how many of ``deployments``
    it reverted). ``reads``: SQL on ``cur`` when None."""
    if not deployments:
        return [], {}
    reads = reads or SqlReads(cur)
    pairs = {(d["service"], d["environment"]) for d in deployments}
    since = min(d["deployed_at"] for d in deployments)
    services = sorted({service for service, _ in pairs})
    read = reads.between(since, until, services)
    rollbacks = [rb for rb in read if (rb["service"], rb["environment"]) in pairs]
    out: Reverted = {}
    for rb in rollbacks:
        where = (rb["service"], rb["environment"])
        upper = reads.latest(where, rb["from_version"], (rb["rolled_back_at"], None), since)
        if upper is None:
            continue
        lower = reads.latest(where, rb["to_version"], upper, None)
        hit = [
            d["event_seq"]
            for d in deployments
            if (d["service"], d["environment"]) == where
            and (d["deployed_at"], d["event_seq"]) <= upper
            and (
                d["event_seq"] == upper[1]
                if lower is None
                else (d["deployed_at"], d["event_seq"]) > lower
            )
        ]
        for seq in hit:
            out.setdefault(seq, []).append((rb, len(hit)))
    return rollbacks, out


class SqlReads:
    """``RollbackReads`` by SQL on a cursor."""

    def __init__(self, cur: duckdb.DuckDBPyConnection) -> None:
        self._cur = cur

    def between(
        self, since: datetime, until: datetime | None, services: list[str]
    ) -> list[dict[str, Any]]:
        return rows_as_dicts(
            self._cur.execute(
                "SELECT event_id, service, environment, from_version, to_version, reason, "
                "rolled_back_at FROM rollbacks WHERE rolled_back_at >= ? "
                "AND (?::TIMESTAMPTZ IS NULL OR rolled_back_at <= ?) "
                "AND list_contains(?, service) ORDER BY rolled_back_at, event_seq",
                [since, until, until, services],
            )
        )

    def latest(
        self,
        where: tuple[str, str],
        version: str | None,
        before: tuple[datetime, int | None],
        since: datetime | None,
    ) -> Moment | None:
        at, seq = before
        cur = self._cur
        if version is not None:
            # By version alone, so DuckDB uses the version index (with the other conditions in
            # SQL it scans the table); a version names few deployments, filtered here.
            rows = cur.execute(
                "SELECT service, environment, deployed_at, event_seq FROM deployments "
                "WHERE version = ?",
                [version],
            ).fetchall()
            found = [
                (deployed_at, event_seq)
                for service, environment, deployed_at, event_seq in rows
                if (service, environment) == where
                and (since is None or deployed_at >= since)
                and (deployed_at < at or (deployed_at == at and (seq is None or event_seq < seq)))
            ]
            return max(found, default=None)
        latest = cur.execute(
            "SELECT deployed_at, event_seq FROM deployments "
            "WHERE service = ? AND environment = ? "
            "AND (?::TIMESTAMPTZ IS NULL OR deployed_at >= ?) "
            "AND (deployed_at < ? OR (deployed_at = ? AND (?::BIGINT IS NULL OR event_seq < ?))) "
            "ORDER BY deployed_at DESC, event_seq DESC LIMIT 1",
            [*where, since, since, at, at, seq, seq],
        ).fetchall()
        return (latest[0][0], latest[0][1]) if latest else None


ConfigReverted = dict[int, list[tuple[dict[str, Any], int]]]


def config_reverts(changes: list[dict[str, Any]]) -> ConfigReverted:
    """Which configuration changes later ones put back (CONTRACT §5), among ``changes``
    (``config_changes`` rows with values as canonical JSON text): per reverted change's seq,
    (the change that reverted it, how many it reverted).

    A change reverts every earlier change still in force on the same target (service,
    environment, region, resource) and key whose ``from`` is its ``to``; a reverted change is
    no longer in force, so a later change cannot revert it again. A change with no key, or
    with no ``to``, reverts nothing.
    """
    in_force: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    out: ConfigReverted = {}
    for row in sorted(changes, key=lambda r: (r["changed_at"], r["event_seq"])):
        if row["key"] is None:
            continue
        where = (
            row["target_service"],
            row["target_environment"],
            row["target_region"],
            row["target_resource"],
            row["key"],
        )
        earlier = in_force.get(where, [])
        undone = [
            c for c in earlier if row["to_value"] is not None and c["from_value"] == row["to_value"]
        ]
        for change in undone:
            out.setdefault(change["event_seq"], []).append((row, len(undone)))
        in_force[where] = [c for c in earlier if c not in undone] + [row]
    return out
