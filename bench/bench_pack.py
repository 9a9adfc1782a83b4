"""What the commit packs cost the ledger's writer side (ledger/commit_packs.py): the CPU of
one real ``pack`` pass per event it packs, for passes of several sizes, on a copy of the
bench ledger (bench/gen_ledger.py: 1M deployments of 10 commits, 24M facts).

For each size, the copy's newest ``N`` deployments are unpacked again (their rows deleted,
the marks set back), then one pass packs them; an event is a deployment or one of the facts
written with it (an AI assistance comes with its change), the bench ledger's mix (~21 events
a deployment). A pass also reads every fact's commit once, whatever its size: the fixed part.
The first pass also reads the copy's blocks into DuckDB's memory; serve's packer passes
20,000 at a time.
Then the disk the packs take: their tables' blocks, against the file's size.

    python bench/bench_pack.py /tmp/provledger-bench/ledger-1m.duckdb \\
        [--sizes 20000,5000,20000,50000] [--scratch /tmp/provledger-bench/pack-copy.duckdb]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import duckdb

from provenance_ledger.ledger.commit_packs import TABLES, TAKEN, marks, pack
from provenance_ledger.ledger.store import connect


def events_per_deployment(con: duckdb.DuckDBPyConnection) -> float:
    """Deployments and the facts written with them (an AI assistance comes with its change),
    per deployment: what a pass over N deployments packs, in events."""
    return con.execute(
        "SELECT (count(*) + (SELECT count(*) FROM commit_facts WHERE fact <> 'assisted')) "
        "/ count(*) FROM deployments"
    ).fetchall()[0][0]


def unpack_newest(con: duckdb.DuckDBPyConnection, count: int) -> None:
    """The newest ``count`` of what a pass takes (deployments, and configuration changes
    applied from a commit) become unpacked: rows gone, marks set back."""
    done = marks(con)
    first = con.execute(
        f"SELECT min(event_seq) FROM (SELECT event_seq FROM ({TAKEN}) "
        "WHERE event_seq <= ? ORDER BY event_seq DESC LIMIT ?)",
        [done.deployments_through, count],
    ).fetchall()[0][0]
    con.execute("DELETE FROM commit_packs WHERE deployment_seq >= ?", [first])
    con.execute("DELETE FROM commit_pack_additions WHERE deployment_seq >= ?", [first])
    con.execute("DELETE FROM commit_pack_marks")
    con.execute("INSERT INTO commit_pack_marks VALUES (?, ?)", [first - 1, done.facts_through])
    con.execute("CHECKPOINT")


def _blocks(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...]) -> int:
    """Bytes of the blocks these tables' columns use."""
    block = con.execute("SELECT block_size FROM pragma_database_size()").fetchall()[0][0]
    return block * sum(
        con.execute(
            f"SELECT count(DISTINCT block_id) FROM pragma_storage_info('{table}') WHERE persistent"
        ).fetchall()[0][0]
        for table in tables
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="a ledger made by bench/gen_ledger.py")
    parser.add_argument("--sizes", default="20000,5000,20000,50000", help="deployments a pass")
    parser.add_argument(
        "--scratch", type=Path, default=Path("/tmp/provledger-bench/pack-copy.duckdb")
    )
    args = parser.parse_args()
    began = time.monotonic()
    shutil.copyfile(args.path, args.scratch)
    print(f"copied {args.path} in {time.monotonic() - began:.0f} s")
    try:
        con = connect(str(args.scratch))
        ratio = events_per_deployment(con)
        if marks(con).deployments_through < 0:
            raise SystemExit(f"{args.path} has no packs: generate it again with gen_ledger.py")
        for size in (int(s) for s in args.sizes.split(",")):
            unpack_newest(con, size)
            cpu, wall = time.process_time(), time.monotonic()
            pack(con.cursor(), most=size)
            cpu, wall = time.process_time() - cpu, time.monotonic() - wall
            events = size * ratio
            print(
                f"a pass of {size:,} deployments ({events:,.0f} events): {cpu:.1f} s CPU "
                f"({wall:.1f} s wall), {cpu * 1e6 / events:.1f} µs per event"
            )
        print(
            f"the packs take {_blocks(con, TABLES) / 2**30:.2f} GiB of "
            f"{args.scratch.stat().st_size / 2**30:.2f} GiB (their blocks, indexes left out)"
        )
        con.close()
    finally:
        args.scratch.unlink(missing_ok=True)
        args.scratch.with_name(args.scratch.name + ".wal").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
