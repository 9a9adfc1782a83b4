"""Rank the deployments and agent actions that most likely caused an incident."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import duckdb

from query.incidents import rows_as_dicts


def _proximity(gap: timedelta, lookback: timedelta) -> float:
    return max(0.0, 1.0 - gap / lookback)


def rank_suspects(
    cur: duckdb.DuckDBPyConnection, incident: dict[str, Any], lookback: timedelta, limit: int
) -> list[dict[str, Any]]:
    impact = incident["impact_started_at"]
    deployments = rows_as_dicts(
        cur.execute(
            """
            SELECT event_id, service, environment, region, version, deployed_at
            FROM deployments
            WHERE list_contains(?, service)
              AND (? IS NULL OR environment = ?)
              AND deployed_at <= ? AND deployed_at >= ?
            """,
            [
                incident["services"],
                incident["environment"],
                incident["environment"],
                impact,
                impact - lookback,
            ],
        )
    )
    suspects = []
    for deployment in deployments:
        gap = impact - deployment["deployed_at"]
        score = _proximity(gap, lookback)
        suspects.append(
            {
                "score": round(score, 4),
                "kind": "deployment",
                "event_id": deployment["event_id"],
                "service": deployment["service"],
                "environment": deployment["environment"],
                "time": deployment["deployed_at"],
                "changes": [],
                "reasons": [
                    {
                        "code": "time_proximity",
                        "detail": f"deployed {_humanize(gap)} before impact started",
                    },
                    {
                        "code": "same_service",
                        "detail": f"{deployment['service']} is named by the incident",
                    },
                ],
            }
        )
    suspects.sort(key=lambda s: (-s["score"], s["event_id"]))
    for rank, suspect in enumerate(suspects[:limit], start=1):
        suspect["rank"] = rank
    return suspects[:limit]


def _humanize(gap: timedelta) -> str:
    minutes = int(gap.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes / 60:.1f} h"
