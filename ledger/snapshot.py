"""A consistent point-in-time copy of the ledger, taken while ingestion goes on.

One ``READ ONLY`` transaction on a cursor of the live instance sees every table as of one
instant (DuckDB's MVCC); its rows stream as Arrow batches into a new DuckDB file in a
separate instance. Nothing blocks the consumer, and the live instance needs no file access
(it stays locked down, see query/sql/readonly.py). The copy keeps the tables (with their keys and
indexes), sequences, macros and views, so the ``duckdb`` CLI sees what ``POST /v1/sql`` sees,
in an on-disk format DuckDB 1.x CLIs read too. The commit packs' tables are left empty
(ledger/commit_packs.py: they repeat ``commit_facts``, and nothing reads them without marks).
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from provenance_ledger.ledger import commit_packs
from provenance_ledger.schemas.errors import LocalFailure

BATCH_ROWS = 100_000
# The oldest on-disk format that holds our tables, so an SRE's older `duckdb` CLI (1.x)
# opens the copy; DuckDB 2.x's default format is unreadable before 2.0.
STORAGE_VERSION = "v1.0.0"
# A column's compression as ledger/schema.sql names it; that format has no ZSTD, so a copy's
# columns take DuckDB's own choice.
COMPRESSION_CLAUSE = re.compile(r" USING COMPRESSION \w+", re.IGNORECASE)


class SnapshotError(RuntimeError, LocalFailure):
    pass


@dataclass(frozen=True)
class SnapshotInfo:
    path: Path
    taken_at: datetime
    tables: dict[str, int]

    @property
    def events(self) -> int:
        return self.tables.get("events", 0)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def write_snapshot(cursor: duckdb.DuckDBPyConnection, dest: Path) -> SnapshotInfo:
    """Copy the database behind ``cursor`` (a fresh cursor of the live instance) to ``dest``."""
    if dest.exists():
        raise SnapshotError(f"{dest} already exists; choose a new path")
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    cursor.execute("BEGIN TRANSACTION READ ONLY")
    try:
        taken_at = datetime.now(UTC)
        out = duckdb.connect(
            str(partial), config={"storage_compatibility_version": STORAGE_VERSION}
        )
        try:
            tables = copy_database(cursor, out)
            out.execute("CHECKPOINT")
        finally:
            out.close()
    except BaseException:
        partial.unlink(missing_ok=True)
        partial.with_name(partial.name + ".wal").unlink(missing_ok=True)
        raise
    finally:
        with contextlib.suppress(duckdb.Error):  # a failed transaction may be gone already
            cursor.execute("ROLLBACK")
    os.replace(partial, dest)
    return SnapshotInfo(dest, taken_at, tables)


def copy_database(src: duckdb.DuckDBPyConnection, out: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Schema and rows of ``src``'s main schema into ``out``; ``src`` is inside its transaction."""
    where = "database_name = current_database() AND schema_name = 'main' AND NOT internal"
    for statement in _sequences(src, where):
        out.execute(statement)
    tables = []
    for name, sql in src.execute(
        f"SELECT table_name, sql FROM duckdb_tables() WHERE {where} AND NOT temporary "
        "ORDER BY table_oid"
    ).fetchall():
        out.execute(without_compressions(sql))
        tables.append(name)
    counts: dict[str, int] = {}
    for table in tables:
        if table in commit_packs.TABLES:
            counts[table] = 0
            continue
        reader = src.sql(f"SELECT * FROM {_quote(table)}").to_arrow_reader(BATCH_ROWS)
        out.register("snapshot_rows", reader)
        try:
            out.execute(f"INSERT INTO {_quote(table)} SELECT * FROM snapshot_rows")
        finally:
            out.unregister("snapshot_rows")
        counts[table] = out.execute(f"SELECT count(*) FROM {_quote(table)}").fetchall()[0][0]
    for (sql,) in src.execute(
        f"SELECT sql FROM duckdb_indexes() WHERE {where.replace(' AND NOT internal', '')} "
        "AND sql IS NOT NULL ORDER BY index_oid"
    ).fetchall():
        out.execute(sql)
    for statement in _macros(src, where):
        out.execute(statement)
    views = src.execute(
        f"SELECT sql FROM duckdb_views() WHERE {where} AND NOT temporary ORDER BY view_oid"
    ).fetchall()
    _create_views(out, [sql for (sql,) in views])
    return counts


def without_compressions(create_table: str) -> str:
    """A ``CREATE TABLE`` statement whose columns take DuckDB's own compression."""
    return COMPRESSION_CLAUSE.sub("", create_table)


def _create_views(out: duckdb.DuckDBPyConnection, pending: list[str]) -> None:
    """Creation order need not follow dependencies: retry the ones whose base is missing."""
    while pending:
        failed: list[str] = []
        error: duckdb.Error | None = None
        for sql in pending:
            try:
                out.execute(sql)
            except duckdb.CatalogException as exc:
                failed.append(sql)
                error = exc
        if len(failed) == len(pending):
            raise SnapshotError(f"cannot recreate {len(failed)} view(s): {error}")
        pending = failed


def _sequences(src: duckdb.DuckDBPyConnection, where: str) -> list[str]:
    rows = src.execute(
        "SELECT sequence_name, start_value, min_value, max_value, increment_by, cycle, "
        f"last_value FROM duckdb_sequences() WHERE {where.replace(' AND NOT internal', '')} "
        "AND NOT temporary"
    ).fetchall()
    statements = []
    for name, start, low, high, step, cycle, last in rows:
        following = start if last is None else last + step
        statements.append(
            f"CREATE SEQUENCE {_quote(name)} INCREMENT BY {step} MINVALUE {low} "
            f"MAXVALUE {high} START {following} {'CYCLE' if cycle else 'NO CYCLE'}"
        )
    return statements


def _macros(src: duckdb.DuckDBPyConnection, where: str) -> list[str]:
    rows = src.execute(
        "SELECT DISTINCT function_name, function_type, parameters, macro_definition "
        f"FROM duckdb_functions() WHERE {where} AND function_type IN ('macro', 'table_macro')"
    ).fetchall()
    return [
        f"CREATE MACRO {_quote(name)}({', '.join(params)}) AS "
        f"{'TABLE ' if kind == 'table_macro' else ''}{definition}"
        for name, kind, params, definition in rows
    ]
