"""Reading incidents and the changes deployments shipped."""

from __future__ import annotations

from typing import Any

import duckdb


def rows_as_dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    columns = [column[0] for column in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def find_incident(cur: duckdb.DuckDBPyConnection, incident: str) -> dict[str, Any] | None:
    found = rows_as_dicts(cur.execute("SELECT * FROM incident_view WHERE incident = ?", [incident]))
    return found[0] if found else None
