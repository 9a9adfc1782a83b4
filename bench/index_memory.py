"""The memory each ART index of a ledger takes once loaded (issue #18, docs/benchmarks.md,
"Memory"): DuckDB keeps a loaded index in memory and never evicts it, so this is memory a
long-running `provledger serve` holds for good.

Each index is built again over a copy of its key columns in an in-memory database (the
ledger file is only read) and measured by DuckDB's own count (``duckdb_memory()``, tag
ART_INDEX). An index built in one go may be a little smaller than one grown batch by batch
in the ledger; the ratios between indexes are what this is for.

    python bench/index_memory.py /tmp/mem/p1m.duckdb
"""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb

from provenance_ledger.ledger.attach import attach_read_only

# The indexes of events' own keys, which duckdb_indexes() does not list (a file made before
# the writer kept (source, id) unique has a UNIQUE constraint on events too).
CONSTRAINTS = """
SELECT table_name || ' (' || array_to_string(constraint_column_names, ', ') || '), '
       || lower(constraint_type), table_name, array_to_string(constraint_column_names, ', ')
FROM duckdb_constraints() WHERE database_name = 'ledger'
  AND constraint_type IN ('PRIMARY KEY', 'UNIQUE') AND table_name = 'events'
ORDER BY constraint_type, constraint_index
"""


def art_bytes(con: duckdb.DuckDBPyConnection) -> int:
    found = con.execute(
        "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() WHERE tag = 'ART_INDEX'"
    ).fetchone()
    return int(found[0]) if found else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ledger", type=Path, help="a ledger file (read only)")
    args = parser.parse_args()
    con = duckdb.connect()
    attach_read_only(con, args.ledger, "ledger")
    events = con.execute("SELECT count(*) FROM ledger.events").fetchone()
    total_events = int(events[0]) if events else 0
    indexes = [
        (name, table, sql.split("(", 1)[1].rsplit(")", 1)[0])
        for name, table, sql in con.execute(
            "SELECT index_name, table_name, sql FROM duckdb_indexes() "
            "WHERE database_name = 'ledger' ORDER BY table_name, index_name"
        ).fetchall()
    ]
    keys = con.execute(CONSTRAINTS).fetchall()
    print(f"{args.ledger}: {total_events:,} events")
    print(f"{'index':44} {'entries':>11} {'memory':>9} {'per entry':>10}")
    total = 0
    for name, table, columns in [*indexes, *keys]:
        con.execute(f"CREATE OR REPLACE TABLE keys AS SELECT {columns} FROM ledger.{table}")
        entries_row = con.execute("SELECT count(*) FROM keys").fetchone()
        entries = int(entries_row[0]) if entries_row else 0
        before = art_bytes(con)
        con.execute(f"CREATE INDEX measured ON keys ({columns})")
        size = art_bytes(con) - before
        total += size
        per_entry = size / entries if entries else 0.0
        print(f"{name:44} {entries:>11,} {size / 1e6:>7.1f} MB {per_entry:>8.1f} B")
        con.execute("DROP INDEX measured")
    per_event = total / total_events if total_events else 0.0
    print(f"{'all':44} {'':>11} {total / 1e6:>7.1f} MB {per_event:>8.1f} B per event")


if __name__ == "__main__":
    main()
