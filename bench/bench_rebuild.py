"""Rebuild rate: `provledger rebuild` replaying a topic vs `provledger serve` ingesting it live.

One run on one topic: N events (the mix of tests/support/eventmix.py) are produced to a fresh
topic with bench_ingest's producer (the Kafka Java client when at hand) while a real
`provledger serve` subprocess consumes them; serve stops; `provledger rebuild --json` replays
the same topic into a new file and swaps it in. Printed, for both: events/s and the CPU µs per
event (user + system, all threads, from /proc or rusage: the figure that carries over between
machines), then the ratio rebuild / live. The rebuilt ledger and the replay loop's are checked
with `provledger verify`: a run whose ledger does not verify fails.

Three rebuild figures: the replay's own rate as `provledger rebuild` reports it; the whole
command's CPU (start-up, checkpoint, the replay, the table-by-table comparison); and the replay
loop alone (ledger.rebuild.replay in this process into a fresh file), the like of what serve's
CPU counts.

    python bench/bench_rebuild.py [--events 100000] [--partitions 3] [--format avro|json]

Needs a broker: PROVLEDGER_KAFKA_BOOTSTRAP, else 127.0.0.1:9092 (`provledger kafka start`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from bench_ingest import _producer, _tail, verified, wait_until_stored
from kafka.admin import KafkaAdminClient, NewTopic
from proctree import tree_cpu_s, tree_peak_rss_kib

from provenance_ledger.ledger.rebuild import replay
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from tests.support import eventmix
from tests.support.servers import free_port, provledger_command


@dataclass(frozen=True)
class Rate:
    events: int
    wall_s: float
    cpu_s: float

    @property
    def per_s(self) -> float:
        return self.events / self.wall_s

    @property
    def cpu_us(self) -> float:
        return self.cpu_s * 1e6 / self.events


def live(messages: list, env: dict[str, str], partitions: int, folder: Path) -> Rate:
    """serve consuming the topic while it is produced: first produce to last committed row."""
    port = free_port()
    log = (folder / "serve.log").open("wb")
    server = subprocess.Popen(
        [*provledger_command(), "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=2)

    def health() -> dict:
        try:
            return client.get("/healthz").json()
        except (httpx.HTTPError, ValueError):
            return {}

    try:
        deadline = time.monotonic() + 120
        while len(health().get("lag_by_partition") or {}) < partitions:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"no partitions for the consumer: {health()}\n{_tail(log.name)}")
            time.sleep(0.1)
        with _producer(
            env["PROVLEDGER_KAFKA_BOOTSTRAP"], env["PROVLEDGER_TOPIC"], messages, folder
        ) as send:
            # serve's CPU and RSS include its batch-preparing worker's (ledger/prepare.py).
            started, cpu_started = time.perf_counter(), tree_cpu_s(server.pid)
            send()
        wait_until_stored(health, server, len(messages), log.name)
        cpu = tree_cpu_s(server.pid) - cpu_started
        rate = Rate(len(messages), time.perf_counter() - started, cpu)
        print(f"  serve peak RSS {tree_peak_rss_kib(server.pid) / 1024:.0f} MB", flush=True)
        return rate
    finally:
        client.close()
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
        log.close()


def rebuild_command(env: dict[str, str]) -> tuple[dict, Rate]:
    """`provledger rebuild --json`: its report, and the whole command's wall and CPU."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [*provledger_command(), "rebuild", "--json"], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"rebuild failed ({done.returncode}):\n{done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return report, Rate(report["events"], wall, cpu)


def replay_alone(settings: Settings, folder: Path) -> Rate:
    """ledger.rebuild.replay into a fresh file in this process: the loop without the command."""
    ledger = Ledger.open(folder / "replay.duckdb", migrate=True)
    try:
        started, cpu_started = time.perf_counter(), _own_and_reaped_cpu_s()
        events = replay(settings, ledger)
        return Rate(events, time.perf_counter() - started, _own_and_reaped_cpu_s() - cpu_started)
    finally:
        ledger.close()


def _own_and_reaped_cpu_s() -> float:
    """This process's CPU and its reaped children's: the replay's worker is one, reaped when
    the replay stops it."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--format", choices=("avro", "json"), default="avro")
    args = parser.parse_args()
    settings = Settings.from_env()
    print(f"generating {args.events:,} {args.format} events…", flush=True)
    messages = list(eventmix.messages(args.events, fmt=args.format, seed=2026))
    topic = f"bench.rebuild.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=15000)
    admin.create_topics([NewTopic(topic, args.partitions, 1)])
    try:
        with tempfile.TemporaryDirectory(prefix="bench-rebuild-") as tmp:
            folder = Path(tmp)
            env = {k: v for k, v in os.environ.items() if not k.startswith("PROVLEDGER_")}
            env.update(
                PROVLEDGER_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
                PROVLEDGER_TOPIC=topic,
                PROVLEDGER_DB=str(folder / "ledger.duckdb"),
                PROVLEDGER_GROUP=f"bench-{uuid.uuid4().hex[:8]}",
                PROVLEDGER_BATCH_MAX=str(settings.batch_max_records),
                PROVLEDGER_DUCKDB_MEMORY_LIMIT=settings.duckdb_memory_limit or "",
            )
            print("live ingest (serve)…", flush=True)
            ingest = live(messages, env, args.partitions, folder)
            print("provledger rebuild --json…", flush=True)
            report, command = rebuild_command(env)
            # The same origin key as the ledger's, so the loop does what the command did.
            alone = replay_alone(
                replace(settings, topic=topic, db_path=folder / "ledger.duckdb"), folder
            )
            # The figures first: a ledger that does not verify fails the run, after them.
            _report(args, ingest, report, command, alone)
            for name, file in (
                ("rebuilt ledger", "ledger.duckdb"),
                ("replay loop's", "replay.duckdb"),
            ):
                print(f"{name} {verified(folder / file, topic, args.events)}", flush=True)
    finally:
        admin.delete_topics([topic])
        admin.close()


def _report(
    args: argparse.Namespace, ingest: Rate, report: dict, command: Rate, alone: Rate
) -> None:
    replay_rate = report["events_per_s"]
    print(f"\n{args.events:,} {args.format} events, {args.partitions} partitions:")
    print(f"live ingest (serve)          {_figures(ingest)}")
    print(f"rebuild, replay (its report) {replay_rate:9,.0f} events/s")
    print(
        f"rebuild, whole command       {command.per_s:9,.0f} events/s   CPU {command.cpu_us:6.1f} "
        f"µs/event  (start-up, replay, comparison: {command.wall_s:.1f} s)"
    )
    print(f"replay loop alone            {_figures(alone)}")
    print(
        f"rebuild / live: events/s {replay_rate / ingest.per_s:.2f}x (replay), "
        f"CPU per event {alone.cpu_us / ingest.cpu_us:.2f}x (loop alone)  (target: rate >= 1x)"
    )
    print(f"1-min load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def _figures(rate: Rate) -> str:
    return f"{rate.per_s:9,.0f} events/s   CPU {rate.cpu_us:6.1f} µs/event"


if __name__ == "__main__":
    main()
