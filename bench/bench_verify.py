"""`provledger verify` on a large honest ledger: wall time, events/s and peak RSS.

The ledger is written straight into DuckDB by bench/ledger_builder.py (its ``rows`` fill:
copies of events under fresh ids, as records of three partitions with their log rows).
`provledger verify` then runs as a user runs it, in its own process.

    python bench/bench_verify.py [--events 1000000] [--path /tmp/provledger-bench-verify.duckdb]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ledger_builder

from provenance_ledger.ledger import verify_log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--path", type=Path, default=Path("/tmp/provledger-bench-verify.duckdb"))
    parser.add_argument("--keep", action="store_true", help="reuse the file if it exists")
    args = parser.parse_args()
    if not (args.keep and args.path.exists()):
        took = ledger_builder.build_apart(args.path, args.events, "rows")
        print(f"built {args.events:,} events in {took:.0f} s", flush=True)
    size_mb = args.path.stat().st_size / 1e6
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVLEDGER_")}
    env.update(PROVLEDGER_DB=str(args.path), PROVLEDGER_TOPIC="bench", PROVLEDGER_GROUP="bench")
    began = time.monotonic()
    with subprocess.Popen(
        [sys.executable, "-m", "provenance_ledger.query", "verify"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    ) as verifying:
        out = verifying.stdout.read()
        # wait4: this one process's peak RSS and CPU, not the largest of every child so far
        _, status, usage = os.wait4(verifying.pid, 0)
        verifying.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - began
    if verifying.returncode != 0:
        sys.exit(f"verify failed ({verifying.returncode}): {out}")
    print(out.strip())
    print(
        f"verify: {args.events:,} events ({size_mb:,.0f} MB file) in {wall:.1f} s wall, "
        f"{usage.ru_utime + usage.ru_stime:.1f} s CPU, {args.events / wall:,.0f} events/s; "
        f"peak RSS {usage.ru_maxrss / 1024:.0f} MB (reads {verify_log.CHUNK} records at a time)"
    )


if __name__ == "__main__":
    main()
