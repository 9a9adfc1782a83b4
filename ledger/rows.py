"""The one row of a query that always answers one (an aggregate, a setting), typed as such:
DuckDB's ``fetchone()`` is None when there is no row, which such a query never has."""

from __future__ import annotations

from typing import Any

import duckdb


def single_row(result: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    """The row ``result`` (an executed query) answered; a missing one is a bug, so it raises."""
    row = result.fetchone()
    if row is None:
        raise LookupError("a query that always answers one row answered none")
    return row


def single_value(result: duckdb.DuckDBPyConnection) -> Any:
    """The first column of ``single_row``."""
    return single_row(result)[0]


def has_column(cur: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    """Whether ``table`` of the current database's schema ``main`` has ``column``."""
    return bool(
        single_value(
            cur.execute(
                "SELECT count(*) FROM duckdb_columns() "
                "WHERE database_name = current_database() AND schema_name = 'main' "
                "AND table_name = ? AND column_name = ?",
                [table, column],
            )
        )
    )


def has_table(cur: duckdb.DuckDBPyConnection, table: str, database: str | None = None) -> bool:
    """Whether schema ``main`` of ``database`` (the current one unless named) has ``table``."""
    return bool(
        single_value(
            cur.execute(
                "SELECT count(*) FROM duckdb_tables() "
                "WHERE database_name = coalesce(?, current_database()) "
                "AND schema_name = 'main' AND table_name = ?",
                [database, table],
            )
        )
    )
