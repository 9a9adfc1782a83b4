"""A long-running `provledger serve` on a large ledger: its RSS against the bound of
docs/benchmarks.md (section "Memory"), and the suspects call's latency meanwhile.

A ledger of N events is built without Kafka (bench/ledger_builder.py; ``--fill projected``,
the default, fills every projection table and index as the consumer does) or reused from
``--path``, then copied; `provledger verify` checks the copy, and a real `provledger serve`
runs on it against the broker.
Once it has its partitions, ``--more`` events (the mix of tests/support/eventmix.py, another
seed) go through a fresh 3-partition topic, sent by bench_ingest's producer, while a client
calls the suspects API and the other read endpoints in a loop (not with ``--no-reads``); the
reads go on ``--settle`` seconds after the last event is in. serve's RSS is sampled from
/proc every half second.

Printed: RSS when ready, after ingest, steady (median over the settle phase) and peak
(VmHWM; serve's and its worker's, summed), the highest PSS sampled (the libraries both
processes map counted once), and the peak against the bound for the N + ``--more`` events
the ledger then holds (pass/fail; exit 1 on fail), the WAL's size at the end and at most (a
run that passed no checkpoint says so), and the suspects call's p50 / p95 over HTTP during
ingest and after.

    python bench/bench_memory.py [--events 1000000] [--path FILE] [--fill projected|rows]
        [--more 150000] [--memory-limit 4GB] [--no-reads]

Needs a broker: PROVLEDGER_KAFKA_BOOTSTRAP, else 127.0.0.1:9092 (`provledger kafka start`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb
import httpx
import ledger_builder
from bench_ingest import _producer, _tail
from kafka.admin import KafkaAdminClient, NewTopic
from proctree import tree_peak_rss_kib, tree_pss_kib, tree_rss_kib

from provenance_ledger.ledger.settings import Settings
from provenance_ledger.producers.emitter import encode_message
from provenance_ledger.producers.envelope import partition_key
from provenance_ledger.schemas.events import IncidentOpened
from tests.support import eventmix
from tests.support.servers import free_port, provledger_command

# The bound docs/benchmarks.md states, with the DuckDB limit unset: a working set whatever the
# size, and what a million events of the mix add (indexes, key index, blocks read). Peaks
# measured: 786-806 MB at 1M events, 1,620 MB at 3M.
BOUND_BASE_MB = 500
BOUND_PER_MILLION_MB = 400
MORE_SEED = 77
SAMPLE_S = 0.5


def bound_mb(events: int) -> float:
    return BOUND_BASE_MB + BOUND_PER_MILLION_MB * events / 1e6


@dataclass
class Samples:
    """serve's RSS (MB) by phase, and the latencies (ms) of the reads by endpoint and phase."""

    rss: dict[str, list[float]] = field(default_factory=dict)
    pss_mb: float = 0.0
    latency: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    phase: str = "ready"
    wal_mb: float = 0.0


def _rss_mb(pid: int) -> float:
    """serve's RSS with its batch-preparing worker's (ledger/prepare.py)."""
    if not Path(f"/proc/{pid}").exists():
        raise FileNotFoundError(pid)
    return tree_rss_kib(pid) / 1024


def _sample_rss(pid: int, wal: Path, samples: Samples, stop: threading.Event) -> None:
    while not stop.wait(SAMPLE_S):
        try:
            samples.rss.setdefault(samples.phase, []).append(_rss_mb(pid))
            samples.pss_mb = max(samples.pss_mb, tree_pss_kib(pid) / 1024)
        except FileNotFoundError:  # serve has exited; the main thread reports why
            return
        samples.wal_mb = max(samples.wal_mb, _size_mb(wal))


def _size_mb(path: Path) -> float:
    """The file's size; 0 while there is none (DuckDB may drop the WAL at a checkpoint)."""
    try:
        return path.stat().st_size / 1e6
    except FileNotFoundError:
        return 0.0


def _read_loop(
    client: httpx.Client, targets: dict[str, list[str]], samples: Samples, stop: threading.Event
) -> None:
    """Suspects every other call; the incident, a commit's provenance, a service's
    deployments and the failure-rate metric in turn between them."""
    others = [
        *(f"/v1/incidents/{incident}" for incident in targets["incidents"][:50]),
        *(f"/v1/commits/{sha}" for sha in targets["commits"]),
        *(f"/v1/deployments?service={service}" for service in eventmix.SERVICES),
        "/v1/metrics/change-failure-rate",
    ]
    call = 0
    while not stop.is_set():
        if call % 2 == 0:
            incidents = targets["incidents"]
            name, path = (
                "suspects",
                f"/v1/incidents/{incidents[call // 2 % len(incidents)]}/suspects",
            )
        else:
            name, path = "other reads", others[call // 2 % len(others)]
        call += 1
        started = time.perf_counter()
        try:
            status = client.get(path).status_code
        except httpx.HTTPError:
            status = 0
        took = (time.perf_counter() - started) * 1000
        if status == 200:
            samples.latency.setdefault((name, samples.phase), []).append(took)
        else:
            samples.failures[f"{name} {status}"] = samples.failures.get(f"{name} {status}", 0) + 1


def _targets(path: Path, more: list) -> dict[str, list[str]]:
    """Incidents (the file's latest and those the extra events open) and commits to ask for."""
    conn = duckdb.connect(str(path), read_only=True)
    try:
        incidents = [
            row[0]
            for row in conn.execute(
                "SELECT incident FROM incidents GROUP BY incident "
                "ORDER BY max(opened_at) DESC LIMIT 200"
            ).fetchall()
        ]
        commits = [
            row[0] for row in conn.execute("SELECT commit FROM changes LIMIT 100").fetchall()
        ]
    finally:
        conn.close()
    for decoded in more:
        if isinstance(decoded.fact, IncidentOpened):
            incidents.append(decoded.fact.incident)
    return {"incidents": incidents, "commits": commits or ["0" * 40]}


def _ledger(args: argparse.Namespace) -> tuple[Path, str]:
    """The ledger file to copy: the one at --path if it holds --events events; built there
    when missing or with --rebuild. Any other file is left alone: a 10M-event ledger takes
    the better part of an hour to build."""
    path = args.path or Path(f"/tmp/provledger-bench-memory-{args.fill}-{args.events}.duckdb")
    if path.exists() and not args.rebuild:
        held = _events_held(path)
        if held == args.events:
            return path, "reused"
        if held is None:
            refusal = f"{path} is not a ledger: pass another --path, or --rebuild to replace it"
        else:
            refusal = (
                f"{path} holds {held:,} events, not the {args.events:,} of --events: pass "
                f"--events {held} to use it, another --path, or --rebuild to replace it"
            )
        print(refusal, file=sys.stderr)
        sys.exit(2)
    took = ledger_builder.build_apart(path, args.events, args.fill)
    return path, f"built in {took:.0f} s ({args.events / took:,.0f} events/s)"


def _events_held(path: Path) -> int | None:
    """The events the ledger at ``path`` holds; None if the file is not a ledger."""
    try:
        conn = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None
    try:
        return conn.execute("SELECT coalesce(max(events), 0) FROM log_heads").fetchall()[0][0]
    except duckdb.Error:
        return None
    finally:
        conn.close()


def _ingested(health: dict, target: int) -> bool:
    if health.get("error") or health.get("consumer_running") is False:
        # A database DuckDB invalidated (out of memory) answers 500; a stopped consumer says so.
        raise SystemExit(f"ingest stopped: {health.get('consumer_error') or health}")
    return health.get("events", 0) >= target


def _wait(what: str, done, server: subprocess.Popen, log: str, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while not done():
        if server.poll() is not None:
            raise SystemExit(f"serve died while waiting for {what}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise SystemExit(f"no {what} after {limit_s:.0f} s:\n{_tail(log)}")
        time.sleep(0.2)


def run(args: argparse.Namespace, source: Path, folder: Path) -> tuple[Samples, dict]:
    settings = Settings.from_env()
    copy = folder / "ledger.duckdb"
    shutil.copyfile(source, copy)
    checked = _verify(copy)
    print(f"provledger verify on the ledger before the run: {checked}", flush=True)
    if not checked.startswith("ok"):
        raise SystemExit("the ledger does not verify")
    more = list(eventmix.events(args.more, MORE_SEED))
    messages = [(partition_key(d), *encode_message(d, "avro")) for d in more]
    targets = _targets(copy, more)
    topic = f"bench.memory.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=15000)
    admin.create_topics([NewTopic(topic, ledger_builder.PARTITIONS, 1)])
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVLEDGER_")}
    env.update(
        PROVLEDGER_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        PROVLEDGER_TOPIC=topic,
        PROVLEDGER_DB=str(copy),
        PROVLEDGER_GROUP=f"bench-memory-{uuid.uuid4().hex[:8]}",
        PROVLEDGER_DUCKDB_MEMORY_LIMIT=args.memory_limit or "",
    )
    port = free_port()
    log_path = str(folder / "serve.log")
    samples, stop = Samples(), threading.Event()
    figures: dict = {}
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [*provledger_command(), "serve", "--port", str(port)], env=env, stdout=log, stderr=log
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)

    def health() -> dict:
        try:
            return client.get("/healthz").json()
        except (httpx.HTTPError, ValueError):
            return {}

    threads = [
        threading.Thread(
            target=_sample_rss, args=(server.pid, Path(f"{copy}.wal"), samples, stop), daemon=True
        ),
    ]
    if args.reads:
        threads.append(
            threading.Thread(target=_read_loop, args=(client, targets, samples, stop), daemon=True)
        )
    try:
        began = time.monotonic()
        partitions = ledger_builder.PARTITIONS
        _wait(
            "partitions",
            lambda: len(health().get("lag_by_partition") or {}) >= partitions,
            server,
            log_path,
            1800,
        )
        figures["ready_s"] = time.monotonic() - began
        figures["ready_mb"] = _rss_mb(server.pid)
        for thread in threads:
            thread.start()
        with _producer(settings.kafka_bootstrap, topic, messages, folder) as send:
            samples.phase = "ingest"
            started = time.perf_counter()
            send()
            target = args.events + args.more
            _wait("ingest", lambda: _ingested(health(), target), server, log_path, 3600)
            figures["ingest_s"] = time.perf_counter() - started
        figures["after_ingest_mb"] = _rss_mb(server.pid)
        samples.phase = "settle"
        time.sleep(args.settle)
        figures["peak_mb"] = tree_peak_rss_kib(server.pid) / 1024
        figures["wal_mb"] = _size_mb(Path(f"{copy}.wal"))
        figures["limit"] = _announced_limit(log_path)
        figures["error"] = health().get("consumer_error")
    finally:
        stop.set()
        for thread in threads:
            if thread.is_alive():
                thread.join(timeout=60)
        client.close()
        server.send_signal(signal.SIGINT)
        server.wait(timeout=120)
        admin.delete_topics([topic])
        admin.close()
    return samples, figures


def _verify(path: Path) -> str:
    """`provledger verify` on the ledger at ``path``: its first line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVLEDGER_")}
    done = subprocess.run(
        [*provledger_command(), "verify"],
        env={**env, "PROVLEDGER_DB": str(path)},
        capture_output=True,
        text=True,
    )
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else f"exit {done.returncode}"


def _announced_limit(log_path: str) -> str:
    text = " ".join(Path(log_path).read_text(errors="replace").split())
    marker = "DuckDB memory limit "
    return text.split(marker, 1)[1].split(")", 1)[0] if marker in text else "?"


def _percentiles(values: list[float]) -> str:
    if len(values) < 2:
        return f"{len(values)} calls"
    cuts = statistics.quantiles(values, n=100)
    return f"p50 {cuts[49]:,.1f} ms, p95 {cuts[94]:,.1f} ms ({len(values)} calls)"


def report(args: argparse.Namespace, how: str, size_mb: float, samples: Samples, f: dict) -> bool:
    print(f"ledger: {args.events:,} events ({args.fill}), {size_mb:,.0f} MB file; {how}")
    per_s = args.more / f["ingest_s"]
    print(
        f"serve, DuckDB memory limit {f['limit']}: ready in {f['ready_s']:.0f} s at RSS "
        f"{f['ready_mb']:,.0f} MB; +{args.more:,} events in {f['ingest_s']:.1f} s "
        f"({per_s:,.0f}/s), "
        f"RSS {f['after_ingest_mb']:,.0f} MB after; WAL {f['wal_mb']:,.0f} MB at the end, "
        f"{samples.wal_mb:,.0f} MB at most"
    )
    if f["wal_mb"] >= samples.wal_mb:
        print(
            "  no checkpoint ran while serve ingested: the peak leaves out the rows DuckDB "
            "holds until one (send more events with --more)"
        )
    for phase in ("ingest", "settle"):
        for name in ("suspects", "other reads"):
            print(
                f"  {name} during {phase}: {_percentiles(samples.latency.get((name, phase), []))}"
            )
    if samples.failures:
        print(f"  reads not answered 200: {samples.failures}")
    if f["error"]:
        print(f"  consumer error: {f['error']}")
    highest = [
        f"{phase} {max(rss):,.0f} MB at {rss.index(max(rss)) * SAMPLE_S:.1f} s"
        for phase, rss in samples.rss.items()
        if rss
    ]
    print(f"  RSS sampled every {SAMPLE_S} s, highest by phase: {'; '.join(highest)}")
    print(
        f"  PSS sampled alike, highest {samples.pss_mb:,.0f} MB: the libraries serve and its "
        "worker both map count once (the RSS counts them in each; the bound is held to the RSS)"
    )
    settle = samples.rss.get("settle", [])
    steady = statistics.median(settle) if settle else f["after_ingest_mb"]
    # The ledger ends with the events sent too.
    held = args.events + args.more
    bound = bound_mb(held)
    within = f["peak_mb"] <= bound
    print(
        f"RSS: peak {f['peak_mb']:,.0f} MB, steady {steady:,.0f} MB (median over the last "
        f"{args.settle:.0f} s); bound for {held:,} events {bound:,.0f} MB "
        f"({BOUND_BASE_MB} MB + {BOUND_PER_MILLION_MB} MB per million events): "
        f"{'PASS' if within else 'FAIL'}"
    )
    return within


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--path",
        type=Path,
        help="the ledger to reuse, or build when missing (replaced only with --rebuild)",
    )
    parser.add_argument("--fill", choices=ledger_builder.FILLS, default="projected")
    parser.add_argument("--rebuild", action="store_true", help="build even if --path exists")
    # 150,000: enough to pass serve's checkpoint at 256 MB of WAL (~100,000 events of the mix),
    # whose held rows and index writes set a long-running serve's peak.
    parser.add_argument("--more", type=int, default=150_000, help="events sent through Kafka")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds of reads after")
    parser.add_argument("--memory-limit", help="PROVLEDGER_DUCKDB_MEMORY_LIMIT for serve")
    parser.add_argument(
        "--no-reads",
        dest="reads",
        action="store_false",
        help="no API calls: what ingest alone holds",
    )
    args = parser.parse_args()
    source, how = _ledger(args)
    size_mb = source.stat().st_size / 1e6
    with tempfile.TemporaryDirectory(prefix="bench-memory-", dir=source.parent) as folder:
        samples, figures = run(args, source, Path(folder))
    if not report(args, how, size_mb, samples, figures):
        sys.exit(1)


if __name__ == "__main__":
    main()
