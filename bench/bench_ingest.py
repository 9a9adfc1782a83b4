"""Ingest throughput: end-to-end through the real broker vs the no-Kafka ceiling vs
row-by-row inserts.

Each step runs for JSON structured mode and for Avro binary mode (``--format`` picks one), and
the last lines are the headline per format: events/s end to end, the consumer's CPU per event
(user + system time of the serve process from /proc over the run, divided by the events: the
figure that carries over between machines) and its peak RSS.

1. end-to-end: a real `provledger serve` subprocess consumes a fresh topic while the events
   (the mix of tests/support/eventmix.py) are produced as fast as they can be; events/s from
   the first produce to the last committed row (seen on /healthz). The consumer's peak RSS
   (VmHWM) is read from /proc. The load generator is bench/BenchProducer.java,
   the Kafka Java client from the broker's cached jars sending pre-encoded records: what is
   measured is the ledger, and kafka-python's producer would take a core per ~10k records/s
   from the same two cores. Without Java or the jars, kafka-python produces (and says so).
2. ceiling: decode + insert alone (decode_batch + Ledger.write_batch in batches of
   PROVLEDGER_BATCH_MAX), no Kafka, same events, a fresh DuckDB file, garbage collector
   set as the consumer sets it (ledger.batch.relax_gc).
3. baseline: the same rows inserted one at a time with executemany (on a sample: it is slow).
4. the CPU floor: what the chosen libraries cost per event on their own, with nothing of the
   ledger's code: kafka-python fetching the same topic with the ledger's consumer settings,
   fastavro reading the Avro bodies, pydantic validating envelope and data, and (with the
   local broker) the broker's CPU during the end-to-end run (more on a broker just started,
   whose JVM is still compiling: run it twice). kafka-python, fastavro and
   pydantic hold the GIL, so their sum must fit in the one core Python code gets.

The ledgers the end-to-end run and the ceiling built are checked with `provledger verify`
(every row against the Merkle log of the records): a run whose ledger does not verify fails.

    python bench/bench_ingest.py [--events 60000] [--partitions 3] [--format json|avro|both]

Needs a broker: PROVLEDGER_KAFKA_BOOTSTRAP, else 127.0.0.1:9092 (`provledger kafka start`).
PROVLEDGER_BATCH_MAX and PROVLEDGER_DUCKDB_MEMORY_LIMIT apply to both the ledger under test and
the ceiling.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
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
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import fastavro
import httpx
from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic
from proctree import tree_cpu_s, tree_peak_rss_kib

from provenance_ledger.ledger import localkafka, localkafka_config
from provenance_ledger.ledger.batch import decode_batch, relax_gc
from provenance_ledger.ledger.consumer import consumer_config
from provenance_ledger.ledger.projection import Accepted, project
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.schemas import avro
from provenance_ledger.schemas.codec import KafkaRecord, binary_envelope
from provenance_ledger.schemas.events import DATA_MODELS, CloudEvent
from tests.support import eventmix
from tests.support.ledgerproc import produce
from tests.support.servers import free_port, provledger_command


def _records(messages: list, topic: str) -> list[KafkaRecord]:
    return [
        KafkaRecord(topic, 0, offset, key, value, tuple(headers))
        for offset, (key, headers, value) in enumerate(messages)
    ]


@dataclass(frozen=True)
class Ceiling:
    rate: float
    """events/s, decode + write without Kafka"""
    per_cpu_second: float
    decode_us: float
    """CPU per event in ``decode_batch``"""
    write_us: float
    """CPU per event in ``Ledger.write_batch``"""
    duckdb_us: float
    """the part of ``write_us`` spent inside DuckDB calls (insert, index upkeep, commit)"""
    verified: str
    """what `provledger verify` says of the ledger it built"""


def ceiling(messages: list, settings: Settings, folder: Path) -> Ceiling:
    records = _records(messages, "bench")
    batch = settings.batch_max_records
    ledger = Ledger.open(
        folder / "ceiling.duckdb", migrate=True, memory_limit=settings.duckdb_memory_limit
    )
    in_duckdb = [0.0]
    # Every cursor write_batch takes counts the CPU of its calls (all threads: DuckDB's too).
    ledger.cursor = lambda: _TimedCursor(Ledger.cursor(ledger), in_duckdb)  # type: ignore[method-assign]
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
    return Ceiling(
        len(records) / elapsed,
        len(records) / cpu,
        decode_cpu * per_event_us,
        write_cpu * per_event_us,
        in_duckdb[0] * per_event_us,
        verified(folder / "ceiling.duckdb", "bench", len(records)),
    )


def verified(path: Path, topic: str, events: int) -> str:
    """`provledger verify --json` on a ledger a bench built: raises SystemExit unless it
    verifies and holds ``events`` events; says what it verified."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVLEDGER_")}
    env.update(PROVLEDGER_DB=str(path), PROVLEDGER_TOPIC=topic)
    done = subprocess.run(
        [*provledger_command(), "verify", "--json"], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(
            f"provledger verify refused {path} (exit {done.returncode}):\n"
            f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    report = json.loads(done.stdout)
    if report["events"] != events:
        raise SystemExit(f"{path} verifies but holds {report['events']} of {events} events")
    return (
        f"verified: {report['size']:,} records, {report['events']:,} events, root {report['root']}"
    )


class _TimedCursor:
    """A DuckDB cursor adding the process CPU time of each call to ``spent[0]``."""

    def __init__(self, cursor: object, spent: list[float]) -> None:
        self._cursor, self._spent = cursor, spent

    def __getattr__(self, name: str) -> object:
        attribute = getattr(self._cursor, name)
        if not callable(attribute):
            return attribute

        def timed(*args: object, **kwargs: object) -> object:
            started = time.process_time()
            try:
                return attribute(*args, **kwargs)
            finally:
                self._spent[0] += time.process_time() - started

        return timed


def row_by_row(messages: list, folder: Path) -> float:
    """What ARCHITECTURE.md warns against: one INSERT per row (executemany)."""
    records = _records(messages, "bench")
    ledger = Ledger.open(folder / "rows.duckdb", migrate=True)
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


@dataclass(frozen=True)
class EndToEnd:
    rate: float
    """events/s, first produce to last committed row"""
    per_cpu_second: float
    """events per CPU-second of the consumer process"""
    own_us: float
    """CPU per event of serve's own process, its worker's left out (the balance between them
    bounds the rate on two cores)"""
    peak_rss_kib: int
    """serve's and its worker's peaks, summed"""
    broker_us: float | None
    """the local broker's CPU per event during the run (None: not a broker this bench runs)"""
    kafka_alone_us: float
    """kafka-python's CPU per record fetching the same topic, nothing else done"""
    verified: str
    """what `provledger verify` says of the ledger serve built"""


def end_to_end(messages: list, settings: Settings, partitions: int, folder: Path) -> EndToEnd:
    bootstrap = settings.kafka_bootstrap
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
        PROVLEDGER_BATCH_MAX=str(settings.batch_max_records),
        PROVLEDGER_DUCKDB_MEMORY_LIMIT=settings.duckdb_memory_limit or "",
        PROVLEDGER_PREPARE_WORKER="on" if settings.prepare_worker else "off",
    )
    log = (folder / "serve.log").open("wb")
    server = subprocess.Popen(
        [*provledger_command(), "serve", "--port", str(port)], env=env, stdout=log, stderr=log
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
        try:
            deadline = time.monotonic() + 120
            while len(health().get("lag_by_partition") or {}) < partitions:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(
                        f"no partitions for the consumer: {health()}\n{_tail(log.name)}"
                    )
                time.sleep(0.1)
            broker = _local_broker_pid(bootstrap)
            broker_started = _cpu_s(broker) if broker else 0.0
            with _producer(bootstrap, topic, messages, folder) as send:
                # serve's CPU includes its batch-preparing worker's (ledger/prepare.py).
                started, cpu_started = time.perf_counter(), tree_cpu_s(server.pid)
                own_started = _cpu_s(server.pid)
                send()
            wait_until_stored(health, server, len(messages), log.name)
            elapsed = time.perf_counter() - started
            cpu = tree_cpu_s(server.pid) - cpu_started
            own_cpu = _cpu_s(server.pid) - own_started
            broker_cpu = _cpu_s(broker) - broker_started if broker else None
            rss = tree_peak_rss_kib(server.pid)
        finally:
            client.close()
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
        # The serve has stopped: kafka-python alone reads the topic on a quiet box.
        kafka_us = kafka_alone(bootstrap, topic, len(messages))
        checked = verified(folder / "e2e.duckdb", topic, len(messages))
    finally:
        admin.delete_topics([topic])
        admin.close()
    count = len(messages)
    broker_us = broker_cpu * 1e6 / count if broker_cpu is not None else None
    return EndToEnd(
        count / elapsed, count / cpu, own_cpu * 1e6 / count, rss, broker_us, kafka_us, checked
    )


def wait_until_stored(
    health: Callable[[], dict], server: subprocess.Popen, events: int, log_name: str
) -> None:
    """Return once serve's /healthz counts ``events``. Each look is a request that costs serve
    ~2 ms of CPU, which its CPU per event would carry (a look every 50 ms added ~7 µs per event
    to a 60,000-event run): looks come half the time apart that the events still missing should
    take at the rate seen so far, between 50 ms (the end is known within it) and 1 s."""
    first_at, first_count = time.monotonic(), None
    while True:
        stored = health().get("events", 0)
        if stored >= events:
            return
        if server.poll() is not None:
            raise SystemExit(f"serve died:\n{_tail(log_name)}")
        first_count = stored if first_count is None else first_count
        rate = (stored - first_count) / max(time.monotonic() - first_at, 1e-3)
        wait_s = (events - stored) / rate / 2 if rate > 0 else 0.25
        time.sleep(min(1.0, max(0.05, wait_s)))


def kafka_alone(bootstrap: str, topic: str, count: int) -> float:
    """kafka-python's CPU µs per record reading the whole topic with the ledger's consumer
    settings and doing nothing with the records."""
    settings = Settings(kafka_bootstrap=bootstrap, group_id=f"bench-alone-{uuid.uuid4().hex[:8]}")
    consumer = KafkaConsumer(topic, **consumer_config(settings))
    try:
        seen, cpu_started = 0, None
        deadline = time.monotonic() + 120
        while seen < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"kafka-python read {seen} of {count} records in 120 s")
            polled = consumer.poll(timeout_ms=200, max_records=settings.batch_max_records)
            if polled and cpu_started is None:
                # From the first records: joining the group is not per-record work.
                cpu_started = time.process_time()
            seen += sum(len(records) for records in polled.values())
        return (time.process_time() - cpu_started) * 1e6 / count
    finally:
        consumer.close(autocommit=False)


def libraries_alone(messages: list, rounds: int = 3) -> tuple[float, float]:
    """CPU µs per event of fastavro reading the Avro bodies and of pydantic validating the
    envelope and the data, best of ``rounds``: the libraries the decoder rests on, none of
    the ledger's code."""
    registry = avro.default_registry()
    # CDEvents travel with JSON data: the Avro-encoded events alone.
    records = [r for r in _records(messages, "bench") if r.header("content-type") == avro.AVRO]
    bodies = [(registry.by_fingerprint[r.value[2 : avro.HEADER_BYTES]], r.value) for r in records]

    def read() -> list:
        data = []
        for writer, value in bodies:
            body = io.BytesIO(value)
            body.seek(avro.HEADER_BYTES)
            data.append(fastavro.schemaless_reader(body, writer.parsed, None))
        return data

    # Validated as the decoder hands them over: envelope from the headers, data without nulls.
    objects = [
        {**binary_envelope(record), "data": avro._from_avro(datum)}
        for record, datum in zip(records, read(), strict=True)
    ]

    def validate() -> None:
        for obj in objects:
            event = CloudEvent.model_validate(obj)
            model = DATA_MODELS.get(event.type)
            if model is not None:
                model.model_validate(event.data)

    return _best_us(read, rounds, len(records)), _best_us(validate, rounds, len(records))


def _best_us(work: Callable[[], object], rounds: int, count: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best * 1e6 / count


def _local_broker_pid(bootstrap: str) -> int | None:
    """The pid of the broker `provledger kafka start` runs, if it is the one benchmarked."""
    broker = localkafka.status()
    return broker.pid if broker.running and broker.bootstrap == bootstrap else None


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
    java, lib = shutil.which("java"), localkafka_config.cache_dir() / "lib"
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


FORMATS = {"json": "JSON structured", "avro": "Avro binary"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--format", choices=(*FORMATS, "both"), default="both")
    parser.add_argument("--row-sample", type=int, default=2_000)
    args = parser.parse_args()
    # As the ledger consumer does (ledger/consumer.py), so the ceiling is measured alike.
    relax_gc()
    settings = Settings.from_env()
    formats = list(FORMATS) if args.format == "both" else [args.format]
    headlines = [_bench_format(fmt, args, settings, first=fmt == formats[0]) for fmt in formats]
    print(f"\nheadline, {args.events:,} events through Kafka ({args.partitions} partitions):")
    for line in headlines:
        print(line)


def _bench_format(fmt: str, args: argparse.Namespace, settings: Settings, first: bool) -> str:
    """Every figure for one wire format; returns its headline line."""
    worker = "on" if settings.prepare_worker else "off"
    print(
        f"\n== {FORMATS[fmt]}: generating {args.events} events… (serve's batch-preparing "
        f"worker {worker}: PROVLEDGER_PREPARE_WORKER; its CPU and RSS count as serve's)",
        flush=True,
    )
    messages = list(eventmix.messages(args.events, fmt=fmt, seed=2026))
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        folder = Path(tmp)
        run = end_to_end(messages, settings, args.partitions, folder)
        top = ceiling(messages, settings, folder)
        # One format is enough to show what row-by-row inserts cost.
        rows = row_by_row(messages[: args.row_sample], folder) if first else None
    load = os.getloadavg()[0]
    e2e, ceil = run.rate, top.rate
    print(f"end-to-end through Kafka ({args.partitions} partitions): {e2e:10,.0f} events/s")
    print(f"ceiling, decode + insert without Kafka:      {ceil:10,.0f} events/s")
    if rows is not None:
        print(f"row-by-row executemany baseline:             {rows:10,.0f} events/s")
    print(
        f"  ceiling CPU per event: decode_batch (decode, validate, canonical bytes) "
        f"{top.decode_us:.0f} µs, write_batch (hashes, projection, DuckDB insert + commit) "
        f"{top.write_us:.0f} µs, of which inside DuckDB calls {top.duckdb_us:.0f} µs"
    )
    print(f"end-to-end / ceiling:  {e2e / ceil:6.1%}   (target >= 50%)")
    print(f"end-to-end ledger {run.verified}")
    print(f"ceiling ledger    {top.verified}")
    if rows is not None:
        print(f"ceiling / row-by-row:  {ceil / rows:6.1f}x")
    # No bound here: a long-running serve's is make bench-memory's (docs/benchmarks.md, "Memory").
    print(f"consumer peak RSS: {run.peak_rss_kib / 1024:.0f} MB (serve and its worker)")
    print(
        f"per CPU-second (robust to a busy box): end-to-end consumer {run.per_cpu_second:,.0f} "
        f"events, ceiling {top.per_cpu_second:,.0f} events; 1-min load average {load:.1f} on "
        f"{os.cpu_count()} cores"
    )
    print("target: end-to-end >= 20,000 events/s on the 2-core box")
    _print_floor(run, top, libraries_alone(messages) if fmt == "avro" else None)
    # CPU per event carries over between machines where events/s does not.
    return (
        f"  {FORMATS[fmt]:16s} {e2e:8,.0f} events/s   consumer CPU {1e6 / run.per_cpu_second:6.1f}"
        f" µs/event (target <= 100)   peak RSS {run.peak_rss_kib / 1024:4.0f} MB"
    )


def _print_floor(run: EndToEnd, top: Ceiling, libraries: tuple[float, float] | None) -> None:
    """What the chosen libraries cost per event on their own, against what 20,000 events/s on
    two cores leaves: 100 µs of CPU per event, 50 µs of it for code holding the GIL."""
    print("CPU floor, the libraries alone (none of the ledger's code), per event:")
    print(f"  kafka-python fetch    {run.kafka_alone_us:6.1f} µs  (records read and dropped)")
    gil_us = run.kafka_alone_us
    if libraries is not None:
        fastavro_us, pydantic_us = libraries
        gil_us += fastavro_us + pydantic_us
        print(f"  fastavro read         {fastavro_us:6.1f} µs")
        print(f"  pydantic validation   {pydantic_us:6.1f} µs  (envelope + data)")
    print(f"  = {gil_us:.1f} µs holding the GIL; at 20,000 events/s one core gives 50 µs")
    total_us = gil_us + top.duckdb_us
    print(f"  DuckDB                {top.duckdb_us:6.1f} µs  (its calls in the ceiling's writes)")
    if run.broker_us is not None:
        total_us += run.broker_us
        # A broker started just before also spends this time compiling (the JVM's JIT).
        print(f"  broker                {run.broker_us:6.1f} µs  (during the end-to-end run)")
    print(f"  = {total_us:.1f} µs in all; two cores at 20,000 events/s give 100 µs")
    consumer_us = 1e6 / run.per_cpu_second
    print(
        f"the consumer, everything it does: {consumer_us:.1f} µs per event end to end "
        f"(serve's own process {run.own_us:.1f}, its worker {consumer_us - run.own_us:.1f})"
    )


if __name__ == "__main__":
    main()
