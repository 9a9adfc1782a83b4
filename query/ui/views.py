"""What each page shows, read with the query functions the API routes use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from provenance_ledger.ledger.rows import single_value
from provenance_ledger.ledger.store import ReadPosition
from provenance_ledger.query.policy.definitions import DEFAULT_LOOKBACK_SPAN
from provenance_ledger.query.readmodels.incidents import rows_as_dicts, rows_by_key
from provenance_ledger.query.readmodels.metrics import change_failure_rate
from provenance_ledger.query.readmodels.rollbacks import rollbacks_of
from provenance_ledger.query.suspects.finder import suspects_for
from provenance_ledger.query.ui import charts
from provenance_ledger.query.ui.timeline import Marker, Timeline, layout

SHOWN = 10  # suspects listed on the incident page
ON_TIMELINE = 60  # ranked candidates drawn on its timeline
LISTED = 25  # incidents on the list page
# Rows whose top suspect the list page ranks before it answers (open incidents come first).
# Ranking costs ~50 ms a row on a 1M-deployment ledger, so the other rows load theirs from
# /ui/incidents/{id}/top after the page is shown.
RANKED_FIRST = 3


def incident_list(
    cur: duckdb.DuckDBPyConnection,
    limit: int = LISTED,
    ranked_first: int = RANKED_FIRST,
    position: ReadPosition | None = None,
) -> list[dict[str, Any]]:
    """Open incidents first, then the latest resolved; the first ``ranked_first`` with their
    top suspect, the others marked ``lazy`` (their top suspect is fetched by the page).
    ``position``: the ledger's (``Ledger.read_position``), as ``suspects_for`` takes it."""
    rows = rows_as_dicts(
        cur.execute(
            """
            WITH first AS (
                SELECT incident, arg_min(title, opened_at) AS title,
                       arg_min(severity, opened_at) AS severity,
                       arg_min(services, opened_at) AS services,
                       arg_min(environment, opened_at) AS environment,
                       arg_min(impact_started_at, opened_at) AS impact_started_at,
                       min(opened_at) AS opened_at
                FROM incidents GROUP BY incident
            )
            SELECT f.*, r.resolved_at FROM first f LEFT JOIN (
                SELECT incident, min(resolved_at) AS resolved_at
                FROM incident_resolutions GROUP BY incident
            ) r USING (incident)
            ORDER BY r.resolved_at IS NULL DESC, f.opened_at DESC, f.incident LIMIT ?
            """,
            [limit],
        )
    )
    for index, row in enumerate(rows):
        row["lazy"] = index >= ranked_first
        row["top"] = None if row["lazy"] else top_suspect(cur, row["incident"], position)
    return rows


def top_suspect(
    cur: duckdb.DuckDBPyConnection, incident_id: str, position: ReadPosition | None = None
) -> dict[str, Any] | None:
    """The first of the API's suspects for the incident, or None."""
    found = suspects_for(cur, incident_id, DEFAULT_LOOKBACK_SPAN, 1, position)
    return found[1][0] if found and found[1] else None


def incident_page(
    cur: duckdb.DuckDBPyConnection,
    incident_id: str,
    lookback: timedelta,
    position: ReadPosition | None = None,
) -> dict[str, Any] | None:
    """The incident, its ranked suspects (the API's answer) and the timeline."""
    found = suspects_for(cur, incident_id, lookback, ON_TIMELINE, position)
    if found is None:
        return None
    incident, ranked = found
    return {
        "incident": incident,
        "suspects": ranked[:SHOWN],
        "timeline": _timeline(cur, incident, ranked, lookback),
    }


def _timeline(
    cur: duckdb.DuckDBPyConnection,
    incident: dict[str, Any],
    ranked: list[dict[str, Any]],
    lookback: timedelta,
) -> Timeline:
    impact = incident["impact_started_at"]
    resolved = incident["resolved_at"]
    start = impact - lookback
    end = max(resolved or impact, impact) + max(lookback / 12, timedelta(minutes=10))
    markers = [_marker(s) for s in ranked if start <= s["time"] <= end]
    markers += _rollbacks(cur, ranked, end)
    # The whole lookback window would squeeze a few recent markers against the impact line:
    # start shortly before the earliest marker instead (nothing in the window is left out).
    earliest = min([m.time for m in markers] + [impact - timedelta(hours=1)])
    start = max(start, earliest - (end - earliest) / 20)
    lanes = [f"{service} · {incident['environment'] or 'any'}" for service in incident["services"]]
    return layout(markers, start, end, impact, resolved, lanes)


def _lane(service: str | None, environment: str | None) -> str:
    return f"{service or 'any service'} · {environment or 'any'}"


def _marker(s: dict[str, Any]) -> Marker:
    when = f"{s['time']:%H:%M} UTC"
    destructive = bool((s.get("action") or {}).get("destructive"))
    if s["kind"] == "agent_action":
        action = s.get("action") or {}
        what = f"agent action {action.get('action')} by {action.get('tool')}"
    elif s["kind"] == "config_change":
        config = s.get("config") or {}
        subject = config.get("key") or config.get("resource") or s["event_id"]
        what = f"{config.get('kind', 'config')} change {subject}"
        destructive = any(r["code"] == "destructive_config_change" for r in s["reasons"])
    else:
        what = f"deployment {s['event_id']}"
    if destructive:
        what = "destructive " + what
    return Marker(
        kind=s["kind"],
        lane=_lane(s["service"], s["environment"]),
        time=s["time"],
        label=f"#{s['rank']} {what}, {when}, score {s['score']:.2f}",
        event_id=s["event_id"],
        rank=s["rank"],
        destructive=destructive,
    )


def _rollbacks(
    cur: duckdb.DuckDBPyConnection, ranked: list[dict[str, Any]], until: datetime
) -> list[Marker]:
    """Rollbacks of the ranked deployments, each linked to the deployments it reverted (the
    rule of query/readmodels/rollbacks.py)."""
    ids = [s["event_id"] for s in ranked if s["kind"] == "deployment"]
    deployments = rows_by_key(
        cur,
        "deployments",
        "event_id",
        ids,
        "event_id, service, environment, version, deployed_at",
    )
    rollbacks, reverted = rollbacks_of(cur, deployments, until)
    by_rollback: dict[str, list[str]] = {}
    for d in deployments:
        for rb, _ in reverted.get(d["event_seq"], []):
            by_rollback.setdefault(rb["event_id"], []).append(d["event_id"])
    return [
        Marker(
            kind="rollback",
            lane=_lane(rb["service"], rb["environment"]),
            time=rb["rolled_back_at"],
            label=f"rollback {rb['from_version']} → {rb['to_version']}, "
            f"{rb['rolled_back_at']:%H:%M} UTC" + (f": {rb['reason']}" if rb["reason"] else ""),
            event_id=rb["event_id"],
            reverts=tuple(by_rollback.get(rb["event_id"], ())),
        )
        for rb in rollbacks
    ]


def metrics_page(
    cur: duckdb.DuckDBPyConnection, since: datetime | None, until: datetime | None
) -> dict[str, Any]:
    """Change-failure rate by AI tool and by review over [since, until), in total and per
    week, each number from ``change_failure_rate`` (what the API answers)."""
    if until is None:
        latest = single_value(cur.execute("SELECT max(deployed_at) FROM deployments"))
        until = _next_day(latest or datetime.now(UTC))
    if since is None:
        since = until - timedelta(weeks=12)
    buckets = charts.weeks(since, until)
    busy = _weeks_with_deployments(cur, buckets)
    out: dict[str, Any] = {"since": since, "until": until, "by": {}}
    for by in ("ai_tool", "review"):
        totals = change_failure_rate(cur, by, since, until)
        # A week without deployments has no groups: only busy weeks cost a query.
        weekly = [
            {g["group"]: g for g in change_failure_rate(cur, by, start, end)} if i in busy else {}
            for i, (start, end) in enumerate(buckets)
        ]
        groups = [g["group"] for g in totals]
        out["by"][by] = {
            "totals": totals,
            "weeks": list(zip(buckets, weekly, strict=True)),
            "groups": groups,
            "chart": charts.chart(buckets, weekly, groups),
        }
    return out


def _weeks_with_deployments(
    cur: duckdb.DuckDBPyConnection, buckets: list[tuple[datetime, datetime]]
) -> set[int]:
    if not buckets:
        return set()
    monday = buckets[0][0] - timedelta(days=buckets[0][0].weekday())
    monday = monday.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = cur.execute(
        "SELECT DISTINCT floor((epoch(deployed_at) - epoch(?::TIMESTAMPTZ)) / 604800)::BIGINT "
        "FROM deployments WHERE deployed_at >= ? AND deployed_at < ?",
        [monday, buckets[0][0], buckets[-1][1]],
    ).fetchall()
    return {week for (week,) in rows}


def _next_day(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
