"""The writer's CPU per event on a long ledger (issue #18): what ``make bench-ingest`` cannot
show, since it writes into a fresh file whose indexes are small and stay in the CPU's caches.

A copy of an existing ledger (``make bench-write-long``: the 1M-event one of ``make
bench-memory``, built first if missing) takes ``--events`` more events of the event mix
(tests/support/eventmix.py, ``--format``), decoded beforehand and written by
``Ledger.write_batch`` in batches of ``--batch`` over the ledger's own topic and partitions,
after one warm-up batch (which loads the key index and the indexes it touches). Prints the
write's CPU and wall time per event, then checks that the copy verifies.

    python bench/bench_write_long.py FILE [--format json|avro] [--events 50000]
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ledger_builder

from provenance_ledger.ledger.batch import decode_batch, next_offsets, relax_gc
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.ledger.verify import verify
from provenance_ledger.producers.emitter import encode_message
from provenance_ledger.schemas.codec import KafkaRecord
from provenance_ledger.schemas.limits import DEFAULT_MAX_EVENT_BYTES
from tests.support import eventmix

SEED = 77  # not the ledger builder's: new ids


def placed_records(ledger: Ledger, count: int, fmt: str) -> list[KafkaRecord]:
    """``count`` events of the mix as the ledger's topic would hold them next."""
    topic = ledger_builder.TOPIC
    committed = ledger.committed_offsets(topic)
    offsets = {p: itertools.count(committed.get(p, 0)) for p in range(ledger_builder.PARTITIONS)}
    out = []
    for at, decoded in enumerate(eventmix.events(count, seed=SEED)):
        headers, value = encode_message(decoded, fmt)
        partition = at % ledger_builder.PARTITIONS
        out.append(
            KafkaRecord(topic, partition, next(offsets[partition]), None, value, tuple(headers))
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="a ledger of ledger_builder.py (only copied)")
    parser.add_argument("--format", choices=("json", "avro"), default="json")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=5_000)
    args = parser.parse_args()
    relax_gc()
    with tempfile.TemporaryDirectory(prefix="bench-write-long-") as folder:
        path = Path(folder) / "ledger.duckdb"
        shutil.copyfile(args.path, path)
        ledger = Ledger.open(path, migrate=True)
        try:
            stored = ledger.counts()[0]
            records = placed_records(ledger, args.batch + args.events, args.format)
            batches = [
                (
                    records[start : start + args.batch],
                    *decode_batch(records[start : start + args.batch], DEFAULT_MAX_EVENT_BYTES),
                )
                for start in range(0, len(records), args.batch)
            ]
            if any(rejected for _, _, rejected in batches):
                raise SystemExit("benchmark events refused")
            (warm, incoming, _), measured = batches[0], batches[1:]
            ledger.write_batch(incoming, [], next_offsets(warm))
            cpu, wall = time.process_time(), time.perf_counter()
            for chunk, incoming, _ in measured:
                ledger.write_batch(incoming, [], next_offsets(chunk))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            if ledger.counts()[0] != stored + len(records):
                raise SystemExit("not every benchmark event was written as new")
            report = verify(ledger.cursor(), ledger_builder.TOPIC)
        finally:
            ledger.close()
    print(
        f"{args.format}: {args.events:,} events onto {stored:,} ({args.path}), batches of "
        f"{args.batch:,}: write {cpu / args.events * 1e6:.1f} µs CPU per event "
        f"({wall / args.events * 1e6:.1f} µs wall); the copy "
        + ("verifies" if report.ok else f"does NOT verify: {report.problem}")
    )
    if not report.ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
