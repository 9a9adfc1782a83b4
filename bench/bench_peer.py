"""The ledger's ingest against two peers that only copy rows, measured in one run on the same
events (the mix of tests/support/eventmix.py, JSON structured mode):

1. provledger: a real `provledger serve` consuming a fresh topic (bench_ingest.end_to_end):
   decodes and validates each event against its type's schema, deduplicates on (source, id),
   writes the event, its projections (changes, deployments, incidents…) and the hash chain
   (Merkle leaves) to DuckDB, offsets in the same transaction.
2. hand-written: bench/peer_consumer.py, kafka-python + COPY into PostgreSQL through a staging
   table, ON CONFLICT (source, id) DO NOTHING, offsets in the same transaction (~60 lines).
3. Kafka Connect: the standalone worker from Apache Kafka's own jars with Debezium's JDBC sink
   connector upserting into PostgreSQL on (source, id) (bench/peer_connect.py); it needs records
   with a schema, so its topic holds the same events in JsonConverter's schema + payload
   envelope (schemas.enable=true).

The peers write one table, `events` (source, id, type, time, subject, data jsonb), in a
throwaway PostgreSQL cluster this benchmark starts (initdb in a temp folder) and stops. Each
pipeline gets a fresh topic of `--partitions` partitions; the clock runs from the first
produce (bench/BenchProducer.java, as bench_ingest) to the last event in its table or ledger.
CPU per event: user + system time from /proc of the pipeline's processes over that span (the
peers: their process and every PostgreSQL process, its checkpointer, WAL writer and the
backends included, the backend that counts the rows left out; provledger: the serve process).
The broker's CPU is shown apart: it is shared, and the only one when it is `provledger kafka
start`'s.

    python bench/bench_peer.py [--events 200000] [--partitions 3] [--connect-tasks 3]

Needs a broker (PROVLEDGER_KAFKA_BOOTSTRAP, else 127.0.0.1:9092), Java, Maven once (the Connect
jars), PostgreSQL's server binaries (Debian's postgresql package) and psycopg (the bench extra).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ingest import _cpu_s, _local_broker_pid, _producer, _tail, end_to_end
from kafka.admin import KafkaAdminClient, NewTopic
from peer_connect import ensure_jars, envelope, start, write_configs
from peer_pg import Postgres, cluster, wait_for
from proctree import tree_cpu_s

from provenance_ledger.ledger.settings import Settings
from tests.support import eventmix
from tests.support.servers import free_port


@dataclass(frozen=True)
class Run:
    name: str
    rate: float
    """events/s, first produce to the last event in the table or ledger"""
    cpu_us: dict[str, float]
    """CPU µs per event of each part of the pipeline"""
    broker_us: float | None
    load: float
    """the 1-min load average as it finished (the box is shared)"""

    @property
    def total_us(self) -> float:
        return sum(self.cpu_us.values())


@dataclass(frozen=True)
class Peer:
    """How to start one peer on a topic: its process, its consumer group, how many members."""

    name: str
    part: str
    launch: Callable[[str], subprocess.Popen]
    group: str
    members: int
    log: Path


def provledger(messages: list, settings: Settings, partitions: int, folder: Path) -> Run:
    run = end_to_end(messages, settings, partitions, folder)
    # end_to_end has run `provledger verify` on the ledger serve built (it raises otherwise).
    print(f"  provledger's ledger {run.verified}", flush=True)
    serve_us = {"serve": 1e6 / run.per_cpu_second}
    return Run("provledger serve", run.rate, serve_us, run.broker_us, os.getloadavg()[0])


def peer(
    spec: Peer, messages: list, bootstrap: str, partitions: int, folder: Path, pg: Postgres
) -> Run:
    topic = f"bench.peer.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    admin.create_topics([NewTopic(topic, partitions, 1)])
    pg.reset()
    process = spec.launch(topic)
    try:

        def alive() -> None:
            if process.poll() is not None:
                raise SystemExit(
                    f"{spec.name} exited ({process.returncode}):\n{_tail(str(spec.log))}"
                )

        def joined() -> bool:
            alive()
            group = admin.describe_groups([spec.group])[spec.group]
            return group["group_state"] == "Stable" and len(group["members"]) == spec.members

        what = f"{spec.name} to join its consumer group"
        wait_for(joined, what, timeout=180, interval=0.5, explain=lambda: _tail(str(spec.log)))
        return _measure(spec, process, alive, messages, bootstrap, topic, folder, pg)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        admin.delete_topics([topic])
        admin.close()


def _measure(
    spec: Peer,
    process: subprocess.Popen,
    alive: Callable[[], None],
    messages: list,
    bootstrap: str,
    topic: str,
    folder: Path,
    pg: Postgres,
) -> Run:
    broker = _local_broker_pid(bootstrap)
    with pg.counter() as (counter_backend, rows_in):
        leave_out = frozenset({counter_backend})

        def cpu() -> dict[str, float]:
            return {
                spec.part: tree_cpu_s(process.pid),
                "PostgreSQL": tree_cpu_s(pg.postmaster_pid(), leave_out),
            }

        def done() -> bool:
            alive()
            return rows_in(len(messages))

        with _producer(bootstrap, topic, messages, folder) as send:
            broker_before = _cpu_s(broker) if broker else 0.0
            started, before = time.perf_counter(), cpu()
            send()
        what, log = f"{len(messages)} rows from {spec.name}", str(spec.log)
        wait_for(done, what, timeout=1800, interval=0.1, explain=lambda: _tail(log))
        elapsed, after = time.perf_counter() - started, cpu()
        broker_cpu = _cpu_s(broker) - broker_before if broker else None
    count = len(messages)
    spent = {part: (after[part] - before[part]) * 1e6 / count for part in after}
    broker_us = broker_cpu * 1e6 / count if broker_cpu is not None else None
    return Run(spec.name, count / elapsed, spent, broker_us, os.getloadavg()[0])


def hand_written(bootstrap: str, folder: Path, pg: Postgres) -> Peer:
    group = f"bench-peer-{uuid.uuid4().hex[:8]}"
    script = Path(__file__).with_name("peer_consumer.py")

    def launch(topic: str) -> subprocess.Popen:
        log = (folder / "consumer.log").open("wb")
        return subprocess.Popen(
            [sys.executable, str(script), bootstrap, topic, group, pg.dsn],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    return Peer("hand-written consumer", "consumer", launch, group, 1, folder / "consumer.log")


def kafka_connect(bootstrap: str, folder: Path, pg: Postgres, tasks: int) -> Peer:
    lib, plugins = ensure_jars(lambda line: print(line, flush=True))

    def launch(topic: str) -> subprocess.Popen:
        configs = write_configs(folder, name, bootstrap, topic, pg.jdbc_url, plugins, tasks)
        return start(folder, lib, *configs)

    name = f"events-sink-{uuid.uuid4().hex[:8]}"
    # Connect names a sink's consumer group after the connector.
    group, log = f"connect-{name}", folder / "connect.log"
    return Peer("Kafka Connect + Debezium JDBC", "connect", launch, group, tasks, log)


def report(runs: list[Run], events: int, partitions: int) -> None:
    print(
        f"\n{events:,} events, {partitions} partitions, JSON structured mode, "
        f"{os.cpu_count()} cores; CPU in µs per event, the broker's apart (shared)"
    )
    header = (
        f"{'pipeline':30} {'events/s':>8} {'CPU':>5}  {'of which':27} {'broker':>6} {'+broker':>7}"
    )
    print(f"{header} {'load':>5}")
    for run in runs:
        parts = ", ".join(f"{part} {us:.0f}" for part, us in run.cpu_us.items())
        broker = f"{run.broker_us:6.0f}" if run.broker_us is not None else f"{'-':>6}"
        print(
            f"{run.name:30} {run.rate:8,.0f} {run.total_us:5.0f}  {parts:27} {broker} "
            f"{run.total_us + (run.broker_us or 0):7.0f} {run.load:5.1f}"
        )
    print("(load: the 1-min load average as the pipeline finished)")
    ledger = runs[0]
    for other in runs[1:]:
        with_broker = (ledger.total_us + (ledger.broker_us or 0)) / (
            other.total_us + (other.broker_us or 0)
        )
        print(
            f"provledger / {other.name}: events/s {ledger.rate / other.rate:.2f}x, "
            f"CPU per event {ledger.total_us / other.total_us:.2f}x "
            f"({with_broker:.2f}x with the broker)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--connect-tasks", type=int, default=3, help="the sink's tasks.max")
    args = parser.parse_args()
    settings = Settings.from_env()
    bootstrap = settings.kafka_bootstrap
    print(f"generating {args.events:,} events (JSON structured mode)…", flush=True)
    messages = list(eventmix.messages(args.events, fmt="json", seed=2026))
    # Connect's topic: the same events, keys and order, as JsonConverter envelopes.
    enveloped = [(key, [], envelope(value)) for key, _, value in messages]
    with tempfile.TemporaryDirectory(prefix="bench-peer-") as tmp, cluster(free_port()) as pg:
        folder = Path(tmp)
        print("provledger serve…", flush=True)
        runs = [provledger(messages, settings, args.partitions, folder)]
        peers = [
            (hand_written(bootstrap, folder, pg), messages),
            (kafka_connect(bootstrap, folder, pg, args.connect_tasks), enveloped),
        ]
        for spec, records in peers:
            print(f"{spec.name}…", flush=True)
            runs.append(peer(spec, records, bootstrap, args.partitions, folder, pg))
    report(runs, args.events, args.partitions)


if __name__ == "__main__":
    main()
