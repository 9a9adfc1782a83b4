"""An idle ledger's CPU, and how soon the first event is visible on a topic the ledger creates.

Starts a real `provledger serve` on a fresh DuckDB file and a topic that does not exist yet
(the ledger creates it), then:

1. first event: one event produced once /healthz is ok; seconds until /healthz counts it;
2. idle CPU: utime + stime of the serve process from /proc/PID/stat over --seconds (30),
   as a percentage of one core. The goal is under 5 %.
3. a look at /healthz: serve's CPU per request over --looks requests on one connection, 20 a
   second as a benchmark waiting for its events asks (bench/bench_ingest.py), idle CPU taken
   out. A monitor's probes cost this; so do a benchmark's looks, which count in its figures.

    python bench/bench_idle.py [--seconds 30] [--looks 200]

Needs a broker: PROVLEDGER_KAFKA_BOOTSTRAP, else 127.0.0.1:9092 (`provledger kafka start`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from provenance_ledger.ledger.settings import DEFAULT_BOOTSTRAP
from provenance_ledger.producers.emitter import Emitter
from provenance_ledger.producers.envelope import build_event
from tests.support.ledgerproc import start_serve
from tests.support.servers import free_port

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def health(url: str) -> dict | None:
    try:
        answer = httpx.get(f"{url}/healthz", timeout=2)
    except httpx.HTTPError:
        return None
    return answer.json() if answer.status_code == 200 else None


def wait_for(check, timeout_s: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if check():
            return time.monotonic() - start
        time.sleep(0.02)
    raise SystemExit(f"timed out after {timeout_s} s waiting for {what}")


def look_cost(pid: int, url: str, looks: int, idle_per_s: float) -> float:
    """serve's CPU seconds per /healthz request, its idle CPU over the same time taken out."""
    with httpx.Client(base_url=url, timeout=2) as client:
        before, at = cpu_seconds(pid), time.monotonic()
        for _ in range(looks):
            client.get("/healthz").raise_for_status()
            time.sleep(0.05)
        used, wall = cpu_seconds(pid) - before, time.monotonic() - at
    return (used - idle_per_s * wall) / looks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--looks", type=int, default=200)
    args = parser.parse_args()
    bootstrap = os.environ.get("PROVLEDGER_KAFKA_BOOTSTRAP", DEFAULT_BOOTSTRAP)
    topic = f"bench.idle.{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROVLEDGER_")}
        env.update(
            PROVLEDGER_KAFKA_BOOTSTRAP=bootstrap,
            PROVLEDGER_TOPIC=topic,
            PROVLEDGER_DB=str(Path(tmp) / "ledger.duckdb"),
        )
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        process = start_serve(env, port, Path(tmp) / "serve.log")
        try:
            started = wait_for(lambda: health(url) is not None, 120, "/healthz ok")
            print(f"serve answered ok {started:.1f} s after start (topic {topic} created)")
            event = build_event(
                "dev.provledger.agent.action.v1",
                {
                    "agent": {"tool": "claude-code"},
                    "action": "scale",
                    "target": {"service": "bench"},
                    "destructive": False,
                },
                "bench/idle",
            )
            with Emitter(bootstrap, topic) as emitter:
                emitter.publish(event)
            seen = wait_for(lambda: (health(url) or {}).get("events") == 1, 60, "the first event")
            print(f"first event visible {seen:.2f} s after it was acknowledged by Kafka")
            time.sleep(3)
            before, at = cpu_seconds(process.pid), time.monotonic()
            time.sleep(args.seconds)
            used, wall = cpu_seconds(process.pid) - before, time.monotonic() - at
            print(f"idle CPU: {used:.2f} s in {wall:.0f} s = {100 * used / wall:.2f} % of a core")
            looked = look_cost(process.pid, url, args.looks, idle_per_s=used / wall)
            print(f"a look at /healthz: {looked * 1000:.2f} ms of serve's CPU ({args.looks} looks)")
        finally:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
