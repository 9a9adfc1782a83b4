"""Decoding in worker processes: does the ingest ceiling scale with processes on this box?

The ceiling of ``bench_ingest.py`` (no Kafka: records decoded and written in batches of
serve's size) run four ways over the same records, each into a fresh ledger that must pass
`provledger verify`:

* in one process, ``decode_batch`` and ``Ledger.write_batch`` in turn (serve with
  ``PROVLEDGER_PREPARE_WORKER=off``);
* as serve does (ledger/preparer.py): one worker process prepares each batch (decodes, hashes
  and projects it into Arrow tables: ledger/prepare.py) while this process writes the one
  before with ``Ledger.write_prepared``;
* with ``--workers`` 1 and 2 worker processes decoding batches (records in, decoded events
  and dead letters out, pickled both ways) while this process writes them in order, one
  batch per worker in flight: the design measured before the prepared one, kept to compare.

Printed per way: events/s, CPU per event of every process (the workers' included, from
/proc), and the speed-up over one process (issue #18: "report the speed-up with 2 processes
here and the CPU per event, so the scaling is visible").

    python bench/bench_workers.py [--events 100000] [--format json|avro|both] [--workers 2]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_ingest import FORMATS, _cpu_s, _records, verified
from proctree import descendants

from provenance_ledger.ledger.batch import (
    Incoming,
    Rejected,
    decode_batch,
    next_offsets,
    relax_gc,
)
from provenance_ledger.ledger.prepare import WorkerSetup
from provenance_ledger.ledger.preparer import Preparer, Worker, write_prepared
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.ledger.writer import table_types
from provenance_ledger.schemas.codec import KafkaRecord
from tests.support import eventmix

TOPIC = "bench"
MAX_EVENT_BYTES = 1024 * 1024


def _decode(records: list[KafkaRecord]) -> tuple[list[Incoming], list[Rejected]]:
    return decode_batch(records, MAX_EVENT_BYTES)


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


def with_preparer(batches: list[list[KafkaRecord]], ledger: Ledger, preparer: Preparer) -> None:
    """As serve does: the worker prepares a batch (decoded, hashed and projected into Arrow
    tables: ledger/prepare.py) while this process writes the one before."""
    pending: deque[tuple[Worker | None, list[KafkaRecord]]] = deque()

    def write_oldest() -> None:
        worker, written = pending.popleft()
        decode = functools.partial(_decode, written)
        write_prepared(ledger, worker, written, next_offsets(written), decode)

    for records in batches:
        pending.append((preparer.submit(records), records))
        if len(pending) > 1:
            write_oldest()
    while pending:
        write_oldest()


def _measure(label: str, batches: list[list[KafkaRecord]], folder: Path, way: str) -> float:
    """Run one way (``one``, ``prepare`` or ``decode-N``) into a fresh ledger; print its
    figures; return its events/s."""
    events = sum(len(records) for records in batches)
    path = folder / f"{label}.duckdb"
    ledger = Ledger.open(path, migrate=True, memory_limit=Settings.from_env().duckdb_memory_limit)
    workers = int(way.removeprefix("decode-")) if way.startswith("decode-") else 0
    pool = ProcessPoolExecutor(workers, initializer=relax_gc) if workers else None
    preparer = None
    if way == "prepare":
        setup = WorkerSetup(table_types(ledger.cursor()), MAX_EVENT_BYTES, None, None)
        preparer = Preparer(setup)
        # The worker starts (and imports) before the clock does, on a ledger of its own.
        warm_up = Ledger.open(folder / "warm-up.duckdb", migrate=True)
        try:
            with_preparer(batches[:1], warm_up, preparer)
        finally:
            warm_up.close()
    try:
        if pool is not None:  # the workers start (and import) before the clock does
            for _ in range(workers * 4):
                pool.submit(os.getpid).result()
        helpers = descendants(os.getpid())
        helpers_before = sum(_cpu_s(pid) for pid in helpers)
        cpu_before = time.process_time()
        began = time.perf_counter()
        if preparer is not None:
            with_preparer(batches, ledger, preparer)
        elif pool is not None:
            with_workers(batches, ledger, pool, workers)
        else:
            one_process(batches, ledger)
        elapsed = time.perf_counter() - began
        helper_cpu = sum(_cpu_s(pid) for pid in helpers) - helpers_before
        cpu = time.process_time() - cpu_before + helper_cpu
        assert ledger.counts()[0] == events
    finally:
        if pool is not None:
            pool.shutdown()
        if preparer is not None:
            preparer.close()
        ledger.close()
    rate = events / elapsed
    split = f" (workers {helper_cpu / events * 1e6:5.1f})" if way != "one" else " " * 17
    print(
        f"  {label:22s} {rate:9,.0f} events/s   CPU {cpu / events * 1e6:6.1f} µs/event{split}"
        f"   ledger {verified(path, TOPIC, events).split(':')[0]}",
        flush=True,
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
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
            alone = _measure("one process", batches, Path(tmp), "one")
            ways = [("prepare worker (serve)", "prepare")]
            ways += [(f"{n} decode worker(s)", f"decode-{n}") for n in range(1, args.workers + 1)]
            for label, way in ways:
                rate = _measure(label, batches, Path(tmp), way)
                print(f"  {'':22s} speed-up over one process: {rate / alone:.2f}x")
    print(f"\n1-min load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
