"""`provledger verify` on a large honest ledger: wall time, events/s and peak RSS.

The ledger is written straight into DuckDB (writing 1M events through the consumer takes the
better part of an hour on a 2-core box): copies of events (tests/support/eventmix.py) under
fresh ids, their columns cut from the canonical event by the same SQL the ledger uses, as
records of three partitions with their log rows from ledger/recordlog.py. `provledger verify`
then runs as a user runs it, in its own process.

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

import duckdb
import pyarrow as pa

from provenance_ledger.ledger import merkle, recordlog, verify_log
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.ledger.writer import EVENT_JSON_COLUMNS
from provenance_ledger.schemas.codec import KafkaRecord
from tests.support import eventmix

TEMPLATES = 400
PARTITIONS = 3
BATCH = 100_000


def _canonicals(count: int) -> list[str]:
    templates = [e.canonical.decode() for e in eventmix.events(TEMPLATES, seed=9)]
    out = []
    for i in range(count):
        template = templates[i % TEMPLATES]
        out.append(template.replace(f'"id":"9-{i % TEMPLATES}"', f'"id":"bench-{i}"', 1))
    return out


def build(path: Path, count: int) -> None:
    """Events spread over PARTITIONS partitions as a topic would hold them: record i is at
    partition i % PARTITIONS, offset i // PARTITIONS, its value the canonical event."""
    for stale in (path, Path(f"{path}.wal")):
        stale.unlink(missing_ok=True)
    Ledger.open(path, migrate=True).close()  # the real schema, indexes and views
    canonicals = _canonicals(count)
    log_state = recordlog.RecordLog()
    conn = duckdb.connect(str(path))
    try:
        for start in range(0, count, BATCH):
            chunk = canonicals[start : start + BATCH]
            records = [
                KafkaRecord("bench", seq % PARTITIONS, seq // PARTITIONS, None, text.encode())
                for seq, text in enumerate(chunk, start)
            ]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--path", type=Path, default=Path("/tmp/provledger-bench-verify.duckdb"))
    parser.add_argument("--keep", action="store_true", help="reuse the file if it exists")
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:
        build(args.path, args.events)
        return
    if not (args.keep and args.path.exists()):
        # In a process of its own: a child forked from this one would otherwise count the
        # builder's memory in its peak RSS.
        began = time.monotonic()
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--build-only",
                f"--events={args.events}",
                f"--path={args.path}",
            ],
            check=True,
        )
        print(f"built {args.events:,} events in {time.monotonic() - began:.0f} s", flush=True)
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
