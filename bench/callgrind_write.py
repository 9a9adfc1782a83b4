"""Instructions per event of ``Ledger.write_batch`` (issue #18), to run under callgrind.

    valgrind --tool=callgrind --dump-before=getppid --callgrind-out-file=/tmp/cg.%p \
        .venv/bin/python bench/callgrind_write.py --format json

The twin of bench/callgrind_decode.py for the writer: the events (tests/support/eventmix.py)
are decoded before the first ``os.getppid()``, a warm-up batch is written to a fresh ledger,
and the dump that ends at the second mark holds the writing of ``--events`` events in batches
of ``--batch`` (hashes, the log, projection, DuckDB's inserts, index upkeep and commit, its
threads included). Divide its Ir by the events. Instruction counts do not move with the box's
load, which wall-clock CPU does by ±20 % between runs (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callgrind_decode import records

from provenance_ledger.ledger.batch import decode_batch, relax_gc
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.schemas.limits import DEFAULT_MAX_EVENT_BYTES

TOPIC = "provenance.events"  # as records() makes them


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=("json", "avro"), default="json")
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    relax_gc()
    warm = decode_batch(records(args.batch, args.format, seed=1), DEFAULT_MAX_EVENT_BYTES)
    # After the warm-up's offsets, as the next records of the partition would be.
    measured = [
        record._replace(offset=args.batch + record.offset)
        for record in records(args.events, args.format, seed=2)
    ]
    batches = [
        decode_batch(measured[start : start + args.batch], DEFAULT_MAX_EVENT_BYTES)
        for start in range(0, len(measured), args.batch)
    ]
    if any(rejected for _, rejected in [warm, *batches]):
        raise SystemExit("benchmark events refused")
    with tempfile.TemporaryDirectory(prefix="callgrind-write-") as folder:
        ledger = Ledger.open(Path(folder) / "ledger.duckdb", migrate=True)
        try:
            ledger.write_batch(warm[0], [], {(TOPIC, 0): args.batch})
            os.getppid()
            for incoming, _ in batches:
                ledger.write_batch(incoming, [], {(TOPIC, 0): incoming[-1].record.offset + 1})
            os.getppid()
            if ledger.counts()[0] != args.batch + args.events:
                raise SystemExit("not every benchmark event was written as new")
        finally:
            ledger.close()


if __name__ == "__main__":
    main()
