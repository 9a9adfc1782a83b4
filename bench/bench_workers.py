"""Decoding in worker processes: does the ingest ceiling scale with processes on this box?

The ceiling of ``bench_ingest.py`` (``decode_batch`` + ``Ledger.write_batch`` in batches of
serve's size, no Kafka) run three ways over the same records, each into a fresh ledger that
must pass `provledger verify`:

* in one process, decoding and writing in turn (what the ceiling measures);
* with ``--workers`` 1 and 2 worker processes decoding batches (records in, decoded events
  and dead letters out, pickled both ways) while the main process writes them in order,
  one batch per worker in flight.

Printed per way: events/s, CPU per event of every process (the workers' included, from
/proc), and the speed-up over one process. Serve does not decode in workers; this measures
whether it should (issue #18: "report the speed-up with 2 processes here and the CPU per
event, so the scaling is visible").

    python bench/bench_workers.py [--events 30000] [--format json|avro|both] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_ingest import FORMATS, _cpu_s, _records, verified

from provenance_ledger.ledger.batch import (
    Incoming,
    Rejected,
    decode_batch,
    next_offsets,
    relax_gc,
)
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.schemas.codec import KafkaRecord
from tests.support import eventmix

TOPIC = "bench"
MAX_EVENT_BYTES = 1024 * 1024


def _decode(records: list[KafkaRecord]) -> tuple[list[Incoming], list[Rejected]]:
    return decode_batch(records, MAX_EVENT_BYTES)


def _children(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` (every worker, whichever ran a task)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def one_process(batches: list[list[KafkaRecord]], ledger: Ledger) -> None:
    for records in batches:
        incoming, rejected = _decode(records)
        ledger.write_batch(incoming, rejected, next_offsets(records))


def with_workers(
    batches: list[list[KafkaRecord]], ledger: Ledger, pool: ProcessPoolExecutor, workers: int
) -> None:
    """Keep ``workers`` batches decoding ahead while this process writes the oldest."""
    pending: deque[tuple[Future, list[KafkaRecord]]] = deque()
    for records in batches:
        pending.append((pool.submit(_decode, records), records))
        if len(pending) > workers:
            future, written = pending.popleft()
            ledger.write_batch(*future.result(), next_offsets(written))
    while pending:
        future, written = pending.popleft()
        ledger.write_batch(*future.result(), next_offsets(written))


def _measure(label: str, batches: list[list[KafkaRecord]], folder: Path, workers: int) -> float:
    """Run one way into a fresh ledger; print its figures; return its events/s."""
    events = sum(len(records) for records in batches)
    path = folder / f"{label}.duckdb"
    ledger = Ledger.open(path, migrate=True, memory_limit=Settings.from_env().duckdb_memory_limit)
    pool = ProcessPoolExecutor(workers, initializer=relax_gc) if workers else None
    try:
        if pool is not None:  # the workers start (and import) before the clock does
            for _ in range(workers * 4):
                pool.submit(os.getpid).result()
        helpers = _children(os.getpid()) if pool is not None else []
        cpu_before = time.process_time() + sum(_cpu_s(pid) for pid in helpers)
        began = time.perf_counter()
        if pool is None:
            one_process(batches, ledger)
        else:
            with_workers(batches, ledger, pool, workers)
        elapsed = time.perf_counter() - began
        main_cpu = time.process_time()
        helper_cpu = sum(_cpu_s(pid) for pid in helpers)
        cpu = main_cpu + helper_cpu - cpu_before
        assert ledger.counts()[0] == events
    finally:
        if pool is not None:
            pool.shutdown()
        ledger.close()
    rate = events / elapsed
    split = f" (workers {helper_cpu / events * 1e6:5.1f})" if workers else " " * 17
    print(
        f"  {label:22s} {rate:9,.0f} events/s   CPU {cpu / events * 1e6:6.1f} µs/event{split}"
        f"   ledger {verified(path, TOPIC, events).split(':')[0]}",
        flush=True,
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--format", choices=(*FORMATS, "both"), default="both")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    relax_gc()  # as the consumer does
    batch = Settings.from_env().batch_max_records
    formats = list(FORMATS) if args.format == "both" else [args.format]
    for fmt in formats:
        print(f"\n== {FORMATS[fmt]}: {args.events:,} events, batches of {batch:,}", flush=True)
        records = _records(list(eventmix.messages(args.events, fmt=fmt, seed=2026)), TOPIC)
        batches = [records[at : at + batch] for at in range(0, len(records), batch)]
        with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
            alone = _measure("one process", batches, Path(tmp), 0)
            for workers in range(1, args.workers + 1):
                rate = _measure(f"{workers} decode worker(s)", batches, Path(tmp), workers)
                print(f"  {'':22s} speed-up over one process: {rate / alone:.2f}x")
    print(f"\n1-min load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
