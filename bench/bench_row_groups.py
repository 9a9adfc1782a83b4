"""What DuckDB holds in memory for appended rows until a checkpoint, by row-group size
(issue #18, docs/benchmarks.md, section "Memory").

A batch appended to a table stays in memory (``duckdb_memory()``'s IN_MEMORY_TABLE) and in
the WAL until the next checkpoint, unless the transaction appended a full row group to that
table: DuckDB then writes it to the file during the transaction ("optimistic writes") and the
WAL only points at it. Row groups hold 122,880 rows by default; ``ATTACH … (ROW_GROUP_SIZE n)``
is the only way DuckDB 2.0.1 takes another size, and only for that attach.

Appends ``--batches`` batches of ``--batch`` rows shaped like the ledger's ``events`` rows (the
canonical JSON of tests/support/eventmix.py's events, their keys and hashes), one transaction
each, into a fresh file for each row-group size; prints DuckDB's memory by tag, the WAL, the
file, the CPU of the appends and of the checkpoint after them.

    python bench/bench_row_groups.py [--batches 40] [--batch 5000] [--sizes default,4096,2048]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import eventmix

EVENTS = """CREATE TABLE events (seq BIGINT PRIMARY KEY, source VARCHAR, id VARCHAR,
    type VARCHAR, canonical VARCHAR, data JSON, content_hash VARCHAR, leaf_hash BLOB)"""


def batches(count: int, size: int) -> list[pa.Table]:
    decoded = list(eventmix.events(count * size, seed=5))
    out = []
    for start in range(0, len(decoded), size):
        part = decoded[start : start + size]
        canonical = [item.canonical.decode() for item in part]
        out.append(
            pa.table(
                {
                    "seq": list(range(start, start + len(part))),
                    "source": [item.event.source for item in part],
                    "id": [item.event.id for item in part],
                    "type": [item.event.type for item in part],
                    "canonical": canonical,
                    "content_hash": [item.content_hash for item in part],
                    "leaf_hash": [hashlib.sha256(text.encode()).digest() for text in canonical],
                }
            )
        )
    return out


def measure(folder: Path, size: str, rows: list[pa.Table]) -> str:
    path = folder / f"row_groups_{size}.duckdb"
    conn = duckdb.connect()
    option = "" if size == "default" else f" (ROW_GROUP_SIZE {int(size)})"
    conn.execute(f"ATTACH '{path}' AS ledger{option}")
    conn.execute("USE ledger")
    conn.execute("SET checkpoint_threshold = '1GB'")  # no checkpoint during the appends
    conn.execute(EVENTS)
    started = time.process_time()
    for batch in rows:
        conn.register("batch_rows", batch)
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO events BY NAME "
            "SELECT *, json_extract(canonical, '$.data') AS data FROM batch_rows"
        )
        conn.execute("COMMIT")
        conn.unregister("batch_rows")
    appends = time.process_time() - started
    memory = conn.execute(
        "SELECT tag, memory_usage_bytes FROM duckdb_memory() WHERE memory_usage_bytes > 0 "
        "ORDER BY tag"
    ).fetchall()
    wal = path.with_name(path.name + ".wal")
    wal_mb = wal.stat().st_size / 1e6 if wal.exists() else 0.0
    started = time.process_time()
    conn.execute("CHECKPOINT")
    checkpoint = time.process_time() - started
    used = conn.execute(
        "SELECT total_blocks - free_blocks, block_size FROM pragma_database_size()"
    ).fetchone()
    conn.close()
    events = sum(len(batch) for batch in rows)
    tags = ", ".join(f"{tag} {value / 1e6:.1f} MB" for tag, value in memory)
    stored_mb = used[0] * used[1] / 1e6 if used else 0.0
    return (
        f"{size:>8}: {tags}; WAL {wal_mb:.0f} MB; appends {appends / events * 1e6:.1f} µs/row, "
        f"checkpoint after them {checkpoint:.2f} s; stored {stored_mb:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--sizes", default="default,4096,2048")
    args = parser.parse_args()
    rows = batches(args.batches, args.batch)
    print(f"{args.batches} batches of {args.batch:,} events rows, one transaction each")
    with tempfile.TemporaryDirectory(prefix="provledger-row-groups-") as folder:
        for size in args.sizes.split(","):
            print(measure(Path(folder), size.strip(), rows))


if __name__ == "__main__":
    main()
