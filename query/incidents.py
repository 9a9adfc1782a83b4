"""Reading incidents, and small helpers the query modules share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb


def rows_as_dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    columns = [column[0] for column in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def in_list(values: Sequence[Any]) -> str:
    """``(?, ?, ?)`` for a key list. DuckDB answers an IN list of parameters with ART index
    look-ups, where ``IN (SELECT unnest(?))`` becomes a join that scans the whole table."""
    return "(" + ", ".join("?" * len(values)) + ")" if values else "(NULL)"


def find_incident(cur: duckdb.DuckDBPyConnection, incident: str) -> dict[str, Any] | None:
    """The incident as ``incident_view`` defines it (first opening wins, earliest resolution),
    read straight from the tables so it stays fast with many incidents. The contract has no
    region on incidents; an emitter's extra ``region`` field is returned when present."""
    found = rows_as_dicts(
        cur.execute(
            """
            SELECT incident, title, severity, services, environment, impact_started_at,
                   opened_at, event_id, event_seq,
                   (SELECT min(resolved_at) FROM incident_resolutions WHERE incident = $1)
                       AS resolved_at
            FROM incidents WHERE incident = $1
            ORDER BY opened_at, event_id LIMIT 1
            """,
            [incident],
        )
    )
    if not found:
        return None
    region = cur.execute(
        "SELECT data->>'$.region' FROM events WHERE seq = ?", [found[0]["event_seq"]]
    ).fetchone()
    return {**found[0], "region": region[0] if region else None}


def rows_by_key(
    cur: duckdb.DuckDBPyConnection,
    table: str,
    key: str,
    values: Sequence[Any],
    columns: str,
) -> list[dict[str, Any]]:
    """Rows of ``table`` whose ``key`` is one of ``values``, in ledger order (``event_seq``).

    One ``IN (?, …)`` query, which DuckDB answers through the key's ART index; sorting here
    rather than in SQL keeps the plan a plain index scan. Callers pass trusted table and
    column names; only the values are parameters.
    """
    if not values:
        return []
    rows = rows_as_dicts(
        cur.execute(
            f"SELECT {columns}, event_seq FROM {table} WHERE {key} IN {in_list(values)}", values
        )
    )
    rows.sort(key=lambda row: row["event_seq"])
    return rows
