"""Ingest throughput: end-to-end through the real broker vs the no-Kafka ceiling vs
row-by-row inserts.

1. end-to-end: a real `provledger serve` subprocess consumes a fresh topic while the events
   (Avro binary mode, the realistic mix of tests/eventmix.py) are produced as fast as they can
   be; events/s from the first produce to the last committed row (seen on /healthz). The
   consumer's peak RSS (VmHWM) is read from /proc. The load generator is bench/BenchProducer.java,
   the Kafka Java client from the broker's cached jars sending pre-encoded records: what is
   measured is the ledger, and kafka-python's producer would take a core per ~10k records/s
   from the same two cores. Without Java or the jars, kafka-python produces (and says so).
2. ceiling: decode + insert alone (decode_batch + Ledger.write_batch in batches of
   PROVLEDGER_BATCH_MAX), no Kafka, same events, a fresh DuckDB file, garbage collector
   set as the consumer sets it (ledger.consumer.relax_gc).
3. baseline: the same rows inserted one at a time with executemany (on a sample: it is slow).

    python bench/bench_ingest.py [--events 60000] [--partitions 3] [--format avro]

Needs a broker: PROVLEDGER_KAFKA_BOOTSTRAP, else 127.0.0.1:9092 (`provledger kafka start`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from kafka.admin import KafkaAdminClient, NewTopic

from ledger import localkafka
from ledger.consumer import decode_batch, relax_gc
from ledger.projection import Accepted, project
from ledger.settings import Settings
from ledger.store import Ledger
from schemas.codec import KafkaRecord
from tests import eventmix
from tests.ledgerproc import command, free_port, produce


def _records(messages: list, topic: str) -> list[KafkaRecord]:
    return [
        KafkaRecord(topic, 0, offset, key, value, tuple(headers))
        for offset, (key, headers, value) in enumerate(messages)
    ]


def ceiling(messages: list, batch: int, folder: Path) -> tuple[float, float, float, float]:
    """(events/s wall, events per CPU-second of this process, then CPU µs per event spent in
    ``decode_batch`` and in ``Ledger.write_batch``)."""
    records = _records(messages, "bench")
    ledger = Ledger(folder / "ceiling.duckdb")
    decode_cpu = write_cpu = 0.0
    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        for start in range(0, len(records), batch):
            chunk = records[start : start + batch]
            before = time.process_time()
            incoming, rejected = decode_batch(chunk, 1024 * 1024)
            decoded = time.process_time()
            ledger.write_batch(incoming, rejected, {("bench", 0): start + len(chunk)})
            decode_cpu += decoded - before
            write_cpu += time.process_time() - decoded
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        assert ledger.counts()[0] == len(records)
    finally:
        ledger.close()
    per_event_us = 1e6 / len(records)
    return (
        len(records) / elapsed,
        len(records) / cpu,
        decode_cpu * per_event_us,
        write_cpu * per_event_us,
    )


def row_by_row(messages: list, folder: Path) -> float:
    """What ARCHITECTURE.md warns against: one INSERT per row (executemany)."""
    records = _records(messages, "bench")
    ledger = Ledger(folder / "rows.duckdb")
    cur = ledger.cursor()
    try:
        started = time.perf_counter()
        incoming, _ = decode_batch(records, 1024 * 1024)
        for seq, item in enumerate(incoming):
            event = item.decoded.event
            cur.execute(
                "INSERT INTO events (seq, source, id, type, time, subject, content_hash, "
                "canonical, leaf_hash, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, now())",
                [
                    seq,
                    event.source,
                    event.id,
                    event.type,
                    event.time,
                    event.subject,
                    item.decoded.content_hash,
                    item.decoded.canonical.decode(),
                    b"",
                ],
            )
            for table, rows in project([Accepted(seq, item.decoded)]).items():
                columns = list(rows[0])
                placeholders = ", ".join("?" for _ in columns)
                cur.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})",
                    [[row[c] for c in columns] for row in rows],
                )
        elapsed = time.perf_counter() - started
    finally:
        ledger.close()
    return len(records) / elapsed


def end_to_end(
    messages: list, bootstrap: str, partitions: int, folder: Path
) -> tuple[float, float, int]:
    """(events/s wall, events per consumer CPU-second, consumer peak RSS in KiB)."""
    topic = f"bench.ingest.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    admin.create_topics([NewTopic(topic, partitions, 1)])
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVLEDGER_")}
    env.update(
        PROVLEDGER_KAFKA_BOOTSTRAP=bootstrap,
        PROVLEDGER_TOPIC=topic,
        PROVLEDGER_DB=str(folder / "e2e.duckdb"),
        PROVLEDGER_GROUP=f"bench-{uuid.uuid4().hex[:8]}",
    )
    log = (folder / "serve.log").open("wb")
    server = subprocess.Popen(
        [*command(), "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}/healthz"

    # One connection for every look: a new one per look costs the server more than the look.
    client = httpx.Client(timeout=2)

    def health() -> dict:
        try:
            return client.get(url).json()
        except (httpx.HTTPError, ValueError):
            return {}

    try:
        deadline = time.monotonic() + 120
        while len(health().get("lag_by_partition") or {}) < partitions:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"no partitions for the consumer: {health()}\n{_tail(log.name)}")
            time.sleep(0.1)
        with _producer(bootstrap, topic, messages, folder) as send:
            started, cpu_started = time.perf_counter(), _cpu_s(server.pid)
            send()
        while health().get("events", 0) < len(messages):
            if server.poll() is not None:
                raise SystemExit(f"serve died:\n{_tail(log.name)}")
            # Each look costs the server a request; 50 ms bounds the error at ~1%.
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        cpu = _cpu_s(server.pid) - cpu_started
        rss = _peak_rss_kib(server.pid)
    finally:
        client.close()
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
        admin.delete_topics([topic])
        admin.close()
    return len(messages) / elapsed, len(messages) / cpu, rss


@contextlib.contextmanager
def _producer(
    bootstrap: str, topic: str, messages: list, folder: Path
) -> Iterator[Callable[[], None]]:
    """A ready producer; calling what it yields sends every message and waits for the acks.

    The Kafka Java client (the broker's cached jars) when Java and the jars are at hand: it
    sends 60k records for a fraction of a CPU-second, where kafka-python needs a core for
    ~10k records/s on the same two cores as the broker and the consumer. Its start-up (JVM,
    loading the records) happens before the clock starts. Without them, kafka-python.
    """
    java, lib = shutil.which("java"), localkafka.cache_dir() / "lib"
    if java is None or not (lib / f"kafka-clients-{localkafka.KAFKA_VERSION}.jar").exists():
        print("(no Java or Kafka jars: producing with kafka-python)", flush=True)
        yield lambda: produce(bootstrap, topic, messages)
        return
    data = folder / "records.bin"
    with data.open("wb") as out:
        for key, headers, value in messages:
            out.write(struct.pack(">i", -1) if key is None else _field(key))
            out.write(struct.pack(">i", len(headers)))
            for name, raw in headers:
                out.write(_field(name.encode()) + _field(raw))
            out.write(_field(value))
    source = Path(__file__).with_name("BenchProducer.java")
    java_cmd = [java, "-cp", f"{lib}/*", str(source), bootstrap, topic, str(data)]
    process = subprocess.Popen(java_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdin is not None and process.stdout is not None
    try:
        if process.stdout.readline().strip() != "ready":
            raise SystemExit(f"the Java producer did not start (exit {process.wait()})")

        def send() -> None:
            process.stdin.write("go\n")
            process.stdin.flush()
            answer = process.stdout.readline().strip()
            if answer != f"sent {len(messages)}":
                raise SystemExit(f"the Java producer failed: {answer}")

        yield send
    finally:
        process.kill()
        process.wait()


def _field(raw: bytes) -> bytes:
    return struct.pack(">i", len(raw)) + raw


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tail(path: str) -> str:
    return "\n".join(Path(path).read_text(errors="replace").splitlines()[-20:])


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--format", choices=("avro", "json"), default="avro")
    parser.add_argument("--row-sample", type=int, default=2_000)
    args = parser.parse_args()
    # As the ledger consumer does (ledger/consumer.py), so the ceiling is measured alike.
    relax_gc()
    settings = Settings.from_env()
    print(f"generating {args.events} events ({args.format})…", flush=True)
    messages = list(eventmix.messages(args.events, fmt=args.format, seed=2026))
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        folder = Path(tmp)
        e2e, e2e_cpu, rss_kib = end_to_end(
            messages, settings.kafka_bootstrap, args.partitions, folder
        )
        ceil, ceil_cpu, decode_us, write_us = ceiling(messages, settings.batch_max_records, folder)
        rows = row_by_row(messages[: args.row_sample], folder)
    load = os.getloadavg()[0]
    print(f"end-to-end through Kafka ({args.partitions} partitions): {e2e:10,.0f} events/s")
    print(f"ceiling, decode + insert without Kafka:      {ceil:10,.0f} events/s")
    print(f"row-by-row executemany baseline:             {rows:10,.0f} events/s")
    print(
        f"  ceiling CPU per event: decode_batch (decode + validate) {decode_us:.0f} µs, "
        f"write_batch (canonical bytes, hashes, projection, DuckDB insert + commit) "
        f"{write_us:.0f} µs"
    )
    print(f"end-to-end / ceiling:  {e2e / ceil:6.1%}   (target >= 50%)")
    print(f"ceiling / row-by-row:  {ceil / rows:6.1f}x")
    print(f"end-to-end / row-by-row: {e2e / rows:4.1f}x")
    print(f"consumer peak RSS: {rss_kib / 1024:.0f} MB (target < 500 MB)")
    print(
        f"per CPU-second (robust to a busy box): end-to-end consumer {e2e_cpu:,.0f} events, "
        f"ceiling {ceil_cpu:,.0f} events; 1-min load average {load:.1f} on {os.cpu_count()} cores"
    )
    print("target: end-to-end >= 20,000 events/s on the 2-core box")


if __name__ == "__main__":
    main()
