"""What a checkpoint costs per event: the ledger's column compressions (ledger/schema.sql)
against DuckDB's own choice for every column, on the same events in one run.

A checkpoint writes what the WAL holds into the file, compressing each column segment;
serve runs one each time the WAL passes 256 MB (ledger/store.py), so every event passes
through one, and its CPU is part of serve's per event (issue #18) even where a short bench
ends before the first. Each way builds a fresh ledger of ``--events`` events of the mix
(tests/support/eventmix.py, ``--format``), prepared beforehand as serve's worker prepares
them (ledger/prepare.py), written by ``Ledger.write_prepared`` in batches of serve's size with
automatic checkpoints off, then one ``CHECKPOINT`` writes them all. DuckDB's own choice is a
ledger whose tables were made from ledger/schema.sql without its ``USING COMPRESSION``
clauses, as every file made before them was.

Printed per way: the writes' CPU per event, the checkpoint's CPU (all of DuckDB's threads)
and wall time per event, the file's size, then `provledger verify`'s wall time on the file
(it reads the compressed columns back) and the ratios. Both ledgers must verify.

    python bench/bench_checkpoint.py [--events 100000] [--format json|avro|both]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_ingest import FORMATS, _records, verified

from provenance_ledger.ledger import store
from provenance_ledger.ledger.batch import next_offsets, relax_gc
from provenance_ledger.ledger.prepare import Prepared, WorkerSetup, prepare
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.snapshot import without_compressions
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.ledger.writer import table_types
from provenance_ledger.schemas.codec import KafkaRecord
from provenance_ledger.schemas.limits import DEFAULT_MAX_EVENT_BYTES
from tests.support import eventmix

TOPIC = "bench"


@dataclass(frozen=True)
class Way:
    writes_us: float
    checkpoint_cpu_us: float
    checkpoint_wall_us: float
    file_mb: float
    verify_s: float


def build(path: Path, prepared: list[tuple[Prepared, list[KafkaRecord]]], own_choice: bool) -> Way:
    """A ledger of the prepared batches at ``path``, checkpointed once at the end."""
    if own_choice:
        schema = resources.files("provenance_ledger.ledger").joinpath("schema.sql").read_text()
        conn = store.connect(str(path))
        conn.execute(without_compressions(schema))
        conn.close()
    ledger = Ledger.open(path, migrate=True)
    try:
        cur = ledger.cursor()
        cur.execute("SET checkpoint_threshold = '1TB'")
        began = time.process_time()
        for batch, records in prepared:
            ledger.write_prepared(batch, records, next_offsets(records), _no_fallback)
        writes = time.process_time() - began
        # DuckDB checkpoints on its own threads too: the process's CPU counts them.
        cpu, wall = time.process_time(), time.perf_counter()
        cur.execute("CHECKPOINT")
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        ledger.close()
    events = sum(len(records) for _, records in prepared)
    began = time.perf_counter()
    verified(path, TOPIC, events)
    verify_s = time.perf_counter() - began
    size_mb = sum(f.stat().st_size for f in path.parent.glob(f"{path.name}*")) / 1e6
    return Way(writes / events * 1e6, cpu / events * 1e6, wall / events * 1e6, size_mb, verify_s)


def _no_fallback() -> tuple[list, list]:
    raise SystemExit("a prepared batch was refused: the bench's events should all write")


def bench_format(fmt: str, events: int, batch: int) -> None:
    print(f"\n== {FORMATS[fmt]}: {events:,} events, batches of {batch:,}", flush=True)
    records = _records(list(eventmix.messages(events, fmt=fmt, seed=2026)), TOPIC)
    batches = [records[at : at + batch] for at in range(0, len(records), batch)]
    with tempfile.TemporaryDirectory(prefix="bench-checkpoint-") as tmp:
        folder = Path(tmp)
        types_from = Ledger.open(folder / "types.duckdb", migrate=True)
        setup = WorkerSetup(table_types(types_from.cursor()), DEFAULT_MAX_EVENT_BYTES, None, None)
        types_from.close()
        prepared = [(prepare(records, setup), records) for records in batches]
        ways = {
            "the ledger's compressions": build(folder / "ledger.duckdb", prepared, False),
            "DuckDB's own choice": build(folder / "own.duckdb", prepared, True),
        }
    for label, way in ways.items():
        print(
            f"  {label:26s} writes {way.writes_us:5.1f} µs/event   checkpoint CPU "
            f"{way.checkpoint_cpu_us:5.1f} µs/event (wall {way.checkpoint_wall_us:5.1f})   "
            f"file {way.file_mb:6.1f} MB   verify {way.verify_s:5.1f} s   verified"
        )
    ours, own = ways.values()
    cpu_ratio = ours.checkpoint_cpu_us / own.checkpoint_cpu_us
    print(
        f"  ledger's / DuckDB's own: checkpoint CPU {cpu_ratio:.2f}x, "
        f"file {ours.file_mb / own.file_mb:.2f}x, verify {ours.verify_s / own.verify_s:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--format", choices=(*FORMATS, "both"), default="both")
    args = parser.parse_args()
    relax_gc()  # as serve does
    batch = Settings.from_env().batch_max_records
    for fmt in list(FORMATS) if args.format == "both" else [args.format]:
        bench_format(fmt, args.events, batch)


if __name__ == "__main__":
    main()
