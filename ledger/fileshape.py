"""Is a DuckDB file a provledger ledger? ``verify`` and ``rebuild`` take the file PROVLEDGER_DB
names and check it first, so another file (a random one, an empty database, another app's)
gets a clear refusal instead of a traceback, and ``rebuild`` never replaces it.

A ledger is recognised by its events and offsets tables, with the columns and types the
ledger writes (taken from ``ledger/schema.sql``, so the check follows the schema). Projection
tables are left out: older ledgers may lack newer ones, and rebuilding makes them anew.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

import duckdb

from provenance_ledger.schemas.errors import LocalFailure

# Not the log's tables, nor the offsets' (kafka_offsets, then kafka_offset_marks): a file
# from before either changed is still a ledger (migrating or rebuilding brings it up to date).
CORE_TABLES = ("events",)
_COLUMNS = (
    "SELECT table_name, column_name, data_type FROM duckdb_columns() "
    "WHERE database_name = current_database() AND schema_name = 'main' "
    f"AND table_name IN {CORE_TABLES}"
)

Shape = dict[str, dict[str, str]]


class NotALedger(ValueError, LocalFailure):
    """The file is not a ledger: not a DuckDB database, or without the ledger's tables."""


def _shape(cur: duckdb.DuckDBPyConnection) -> Shape:
    shape: Shape = {}
    for table, column, kind in cur.execute(_COLUMNS).fetchall():
        shape.setdefault(table, {})[column] = kind
    return shape


@cache
def expected_shape() -> Shape:
    conn = duckdb.connect(":memory:")
    try:
        conn.execute(resources.files("provenance_ledger.ledger").joinpath("schema.sql").read_text())
        return _shape(conn)
    finally:
        conn.close()


def check(cur: duckdb.DuckDBPyConnection, path: str | Path) -> None:
    """Raise :class:`NotALedger` unless the database behind ``cur`` has the ledger's tables."""
    found = _shape(cur)
    for table, columns in expected_shape().items():
        have = found.get(table)
        if have is None:
            raise NotALedger(f"{path} is not a provledger ledger: it has no {table!r} table")
        wrong = sorted(name for name, kind in columns.items() if have.get(name) != kind)
        if wrong:
            named = ", ".join(wrong[:4]) + (f" and {len(wrong) - 4} more" if len(wrong) > 4 else "")
            raise NotALedger(
                f"{path} is not a provledger ledger (or its schema was altered): its "
                f"{table!r} table lacks the column(s) {named} as the ledger writes them"
            )


def is_lock_error(exc: duckdb.Error) -> bool:
    """Another process holds the file (DuckDB allows one writer, or readers only)."""
    return "lock" in str(exc).lower()


def open_failure(path: str | Path, exc: duckdb.Error) -> NotALedger:
    """Why ``duckdb.connect`` refused a file that is not held by another process: not a
    DuckDB database, a directory, unreadable. One line, DuckDB's reason included."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return NotALedger(f"{path} is not a provledger ledger: DuckDB cannot open it ({reason})")


def open_for_reading(
    path: Path, memory_limit: str | None = None
) -> duckdb.DuckDBPyConnection | None:
    """The ledger file, opened read-only and checked to be a ledger; None when another
    process (a server) holds it, whom the caller asks instead."""
    if not path.exists():
        raise NotALedger(f"no ledger at {path} (set PROVLEDGER_DB)")
    try:
        conn = duckdb.connect(
            str(path), read_only=True, config={"memory_limit": memory_limit} if memory_limit else {}
        )
    except duckdb.Error as exc:
        if is_lock_error(exc):
            return None
        raise open_failure(path, exc) from exc
    try:
        check(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn
