"""Read-only SQL and snapshot costs on a synthetic ledger (from bench/gen_ledger.py).

Measures, on one locked-down DuckDB instance as `provledger serve` runs it:
- the guard's overhead per query (parse, allow-list, read-only transaction) on `SELECT 1`;
- an SRE view query while another thread keeps writing;
- a point-in-time snapshot of the whole file (rows/s).

    make bench-sql    # or, by hand:
    python bench/gen_ledger.py /tmp/bench-sql.duckdb --deployments 100000
    python bench/bench_sql.py /tmp/bench-sql.duckdb
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import duckdb

from provenance_ledger.ledger import snapshot
from provenance_ledger.query.sql import readonly as sql


def _timed(function, repeat: int) -> list[float]:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        timings.append(time.perf_counter() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", type=Path)
    args = parser.parse_args()
    conn = duckdb.connect(str(args.path))
    sql.lock_down(conn.cursor())

    bare = _timed(lambda: conn.cursor().execute("SELECT 1").fetchall(), 2000)
    guarded = _timed(lambda: sql.run(conn.cursor(), "SELECT 1"), 2000)
    print(
        f"SELECT 1: plain cursor {statistics.median(bare) * 1e6:.0f} µs, "
        f"through the guard {statistics.median(guarded) * 1e6:.0f} µs (median of 2000)"
    )

    conn.cursor().execute("CREATE TABLE IF NOT EXISTS bench_writes (n BIGINT)")
    stop = threading.Event()
    written = 0

    def writer() -> None:
        nonlocal written
        cursor = conn.cursor()
        while not stop.is_set():
            cursor.execute("INSERT INTO bench_writes SELECT range FROM range(1000)")
            written += 1000

    thread = threading.Thread(target=writer)
    thread.start()
    query = (
        "SELECT service, count(*) AS deployments, count(*) FILTER (WHERE failed) AS failed "
        "FROM deployments_with_changes WHERE deployed_at > $since GROUP BY service "
        "ORDER BY failed DESC LIMIT 20"
    )
    view = _timed(lambda: sql.run(conn.cursor(), query, {"since": "2025-12-01"}), 5)
    stop.set()
    thread.join()
    print(
        f"deployments_with_changes query during writes: median {statistics.median(view):.3f} s "
        f"(5 runs; {written} rows written meanwhile)"
    )

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        info = snapshot.write_snapshot(conn.cursor(), Path(folder) / "snap.duckdb")
        elapsed = time.perf_counter() - started
        rows = sum(info.tables.values())
        size = (Path(folder) / "snap.duckdb").stat().st_size / 1e6
    print(f"snapshot: {rows} rows in {elapsed:.1f} s ({rows / elapsed:,.0f} rows/s), {size:.0f} MB")
    conn.cursor().execute("DROP TABLE bench_writes")
    conn.close()


if __name__ == "__main__":
    main()
