"""ledger/SCHEMA.md is what SREs read before writing SQL: every table, view and column the
ledger creates must be in it (a new column without a line there fails here)."""

from __future__ import annotations

from pathlib import Path

from provenance_ledger.ledger.store import Ledger

SCHEMA_DOC = (Path(__file__).resolve().parents[2] / "ledger" / "SCHEMA.md").read_text()


def test_every_table_view_and_column_is_documented() -> None:
    ledger = Ledger.open(":memory:", migrate=True)
    try:
        columns = (
            ledger.cursor()
            .execute(
                "SELECT table_name, column_name FROM duckdb_columns() "
                "WHERE schema_name = 'main' AND NOT internal"
            )
            .fetchall()
        )
    finally:
        ledger.close()
    assert len({table for table, _ in columns}) > 20
    undocumented = sorted(
        {f"{table}" for table, _ in columns if f"`{table}`" not in SCHEMA_DOC}
        | {f"{table}.{column}" for table, column in columns if f"`{column}`" not in SCHEMA_DOC}
    )
    assert undocumented == []
