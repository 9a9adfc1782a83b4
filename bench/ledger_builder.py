"""Large ledgers for the benchmarks, written without Kafka (1M events through the consumer take
the better part of an hour on a 2-core box), each with a valid log.

Records are placed as a topic of PARTITIONS partitions would hold them: record i at partition
i % PARTITIONS, offset i // PARTITIONS. Two fills:

* ``rows``: copies of events (tests/support/eventmix.py) under fresh ids, their columns cut
  from the canonical event by the same SQL the ledger uses, with their log rows from
  ledger/recordlog.py; nothing in the projection tables. Fast (~20k events/s here).
* ``projected``: the mix itself (unique ids, commits, deployments, incidents) through
  ``decode_batch`` and ``Ledger.write_batch`` in batches of serve's size, as the consumer
  writes them: every projection table and index filled. Slow (~3k events/s here).

Run as a script it builds one file, in a process of its own (see :func:`build_apart`):

    python bench/ledger_builder.py --events 1000000 --path /tmp/ledger.duckdb [--fill projected]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb
import pyarrow as pa

from provenance_ledger.ledger import merkle, recordlog
from provenance_ledger.ledger.batch import decode_batch, relax_gc
from provenance_ledger.ledger.packer import Packer
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.ledger.writer import EVENT_JSON_COLUMNS
from provenance_ledger.schemas.codec import KafkaRecord
from tests.support import eventmix

TOPIC = "bench"
TEMPLATES = 400
PARTITIONS = 3
BATCH = 100_000
WRITE_BATCH = 5_000  # serve's PROVLEDGER_BATCH_MAX default
MIX_SEED = 9
FILLS = ("rows", "projected")


def placed(seq: int, value: bytes, key: bytes | None = None, headers: tuple = ()) -> KafkaRecord:
    return KafkaRecord(TOPIC, seq % PARTITIONS, seq // PARTITIONS, key, value, headers)


def _fresh(path: Path) -> None:
    for stale in (path, Path(f"{path}.wal")):
        stale.unlink(missing_ok=True)
    Ledger.open(path, migrate=True).close()  # the real schema, indexes and views


def _canonicals(start: int, stop: int) -> list[str]:
    templates = [e.canonical.decode() for e in eventmix.events(TEMPLATES, seed=MIX_SEED)]
    out = []
    for i in range(start, stop):
        template = templates[i % TEMPLATES]
        out.append(template.replace(f'"id":"9-{i % TEMPLATES}"', f'"id":"bench-{i}"', 1))
    return out


def build_rows(path: Path, count: int) -> None:
    """``count`` events in ``events`` and the log, none in the projection tables."""
    _fresh(path)
    log_state = recordlog.RecordLog()
    conn = duckdb.connect(str(path))
    try:
        for start in range(0, count, BATCH):
            chunk = _canonicals(start, min(start + BATCH, count))
            records = [placed(seq, text.encode()) for seq, text in enumerate(chunk, start)]
            entries = [recordlog.record_entry(record) for record in records]
            leaves = [merkle.leaf_hash(entry) for entry in entries]
            rows: dict[str, list] = {name: [] for name in ("p", "idx", "level", "hash")}
            indexes = []
            for record, leaf in zip(records, leaves, strict=True):
                index, completed = log_state.append(record.partition, leaf)
                indexes.append(index)
                for level, node_index, value in completed:
                    node = (record.partition, node_index, level, value)
                    for name, item in zip(rows, node, strict=True):
                        rows[name].append(item)
            staged = pa.table(
                {
                    "seq": pa.array(range(start, start + len(chunk)), pa.int64()),
                    "canonical": chunk,
                    "leaf_hash": pa.array(leaves, pa.binary()),
                    "entry": pa.array(entries, pa.binary()),
                    "part": [record.partition for record in records],
                    "off": [record.offset for record in records],
                    "idx": indexes,
                }
            )
            conn.register("staged", staged)
            conn.execute(
                "INSERT INTO events BY NAME SELECT seq, canonical->>'source' AS source, "
                "canonical->>'id' AS id, canonical->>'type' AS type, "
                "CAST(canonical->>'time' AS TIMESTAMPTZ) AS time, "
                f"canonical->>'subject' AS subject {EVENT_JSON_COLUMNS}, "
                "sha256(canonical) AS content_hash, canonical, leaf_hash, 'bench' AS topic, "
                "part AS kafka_partition, off AS kafka_offset, now() AS ingested_at FROM staged"
            )
            conn.execute(
                "INSERT INTO log_records SELECT part, idx, off, entry, leaf_hash, 'accepted', "
                "seq, NULL FROM staged"
            )
            conn.unregister("staged")
            conn.register("nodes", pa.table({**rows, "hash": pa.array(rows["hash"], pa.binary())}))
            conn.execute("INSERT INTO log_nodes SELECT p, level, idx, hash FROM nodes")
            conn.unregister("nodes")
        conn.execute(
            "INSERT INTO log_heads VALUES (?, ?, ?, ?, now())",
            [log_state.size, log_state.root(), recordlog.format_cut(log_state.cut()), count],
        )
        conn.execute("CHECKPOINT")
    finally:
        conn.close()


def _mix_records(count: int) -> Iterator[list[KafkaRecord]]:
    batch: list[KafkaRecord] = []
    for seq, (key, headers, value) in enumerate(eventmix.messages(count, "json", MIX_SEED)):
        batch.append(placed(seq, value, key, tuple(headers)))
        if len(batch) == WRITE_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def build_projected(path: Path, count: int) -> None:
    """``count`` events of the mix written as the consumer writes them, the commit packs
    made as serve's packer makes them (ledger/packer.py: a pass once enough deployments
    wait)."""
    _fresh(path)
    relax_gc()  # as the consumer does
    ledger = Ledger.open(path)
    # serve's rule for a pass, looked at after each batch here (its thread is not started).
    packer = Packer(ledger, idle_s=math.inf)
    try:
        passes, packing_s, began = 0, 0.0, time.process_time()
        for records in _mix_records(count):
            incoming, rejected = decode_batch(records, 1024 * 1024)
            offsets = {(TOPIC, r.partition): r.offset + 1 for r in records}
            ledger.write_batch(incoming, rejected, offsets)
            before = time.process_time()
            if packer.pass_if_due():
                passes, packing_s = passes + 1, packing_s + time.process_time() - before
        ledger.cursor().execute("CHECKPOINT")
        print(
            f"built {count:,} events in {time.process_time() - began:.0f} s CPU, of which "
            f"{passes} commit pack passes {packing_s:.1f} s ({packing_s * 1e6 / count:.1f} µs "
            "per event)"
        )
    finally:
        packer.stop()
        ledger.close()


def build_apart(path: Path, count: int, fill: str) -> float:
    """Build in a process of its own, so that no process the caller starts later is forked
    from one holding the builder's memory (it would count in that child's peak RSS).
    Returns the seconds it took."""
    began = time.monotonic()
    subprocess.run(
        [sys.executable, __file__, f"--events={count}", f"--path={path}", f"--fill={fill}"],
        check=True,
    )
    return time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--path", type=Path, required=True)
    parser.add_argument("--fill", choices=FILLS, default="rows")
    args = parser.parse_args()
    (build_rows if args.fill == "rows" else build_projected)(args.path, args.events)


if __name__ == "__main__":
    main()
