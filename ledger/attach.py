"""Another DuckDB file attached to a connection, read-only. ATTACH takes no parameters, so
the path goes in as a SQL string literal, quoted here: any path works, an apostrophe in a
folder's name included."""

from __future__ import annotations

from pathlib import Path

import duckdb


def attach_read_only(conn: duckdb.DuckDBPyConnection, path: Path | str, alias: str) -> None:
    """Attach the file at ``path`` as ``alias`` (a name the caller trusts)."""
    literal = "'" + str(path).replace("'", "''") + "'"
    conn.execute(f"ATTACH {literal} AS {alias} (READ_ONLY)")
