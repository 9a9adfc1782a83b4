"""Latency of the suspects query on a big ledger (make one with bench/gen_ledger.py).

Times ``suspects_for`` (what ``GET /v1/incidents/{id}/suspects`` runs) for many incidents,
then a smaller sample through real HTTP (uvicorn + httpx).

    python bench/bench_query.py /tmp/bench-ledger.duckdb [--calls 500] [--http 100] [--warm-up]

``--warm-up`` first runs the server's start-up warm-up (``query.server.warm_up``); the
incidents it warmed are left out of the sample, so "cold" stays a first call.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import uvicorn

from provenance_ledger.ledger.health import ConsumerStatus
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.api.app import create_app
from provenance_ledger.query.api.server import warm_up
from provenance_ledger.query.api.state import AppState
from provenance_ledger.query.suspects.finder import suspects_for
from provenance_ledger.query.ui import routes as ui_routes
from provenance_ledger.query.ui import views as ui_views
from provenance_ledger.query.ui.session import Viewer

LOOKBACK = timedelta(hours=24)


def percentiles(samples_ms: list[float]) -> str:
    cuts = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return (
        f"p50 {cuts[49]:.1f} ms  p95 {cuts[94]:.1f} ms  p99 {cuts[98]:.1f} ms  "
        f"max {max(samples_ms):.1f} ms  (n={len(samples_ms)})"
    )


def incidents_sample(ledger: Ledger, count: int) -> list[str]:
    rows = (
        ledger.cursor()
        .execute("SELECT incident FROM incidents ORDER BY hash(incident) LIMIT ?", [count])
        .fetchall()
    )
    return [row[0] for row in rows]


def _measure(cur, incidents: list[str]) -> tuple[list[float], list[float], list[int]]:
    """Wall-clock and CPU milliseconds per call (CPU time of this process, DuckDB's threads
    included: on a shared, busy machine it shows the cost without the waiting)."""
    wall, cpu, returned = [], [], []
    for incident in incidents:
        began, began_cpu = time.perf_counter(), time.process_time()
        _, suspects = suspects_for(cur, incident, LOOKBACK, 10)
        wall.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
        returned.append(len(suspects))
    return wall, cpu, returned


def bench_function(ledger: Ledger, incidents: list[str]) -> None:
    """Cold: the first call for each incident after opening the file (index nodes and data
    blocks read from disk). Warm: the same calls again, as a long-running server that has
    touched those parts of the ledger (recent deployments are always warm: the consumer
    just wrote them) answers them."""
    cur = ledger.cursor()
    for label in ("cold", "warm"):
        wall, cpu, returned = _measure(cur, incidents)
        print(f"suspects (query function), {label}, wall: {percentiles(wall)}")
        print(f"suspects (query function), {label}, CPU:  {percentiles(cpu)}")
    print(f"  suspects returned per call: mean {statistics.mean(returned):.1f}")
    print(f"  load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


def bench_incident_page(ledger: Ledger, incidents: list[str]) -> None:
    """What ``GET /ui/incidents/{id}`` does server-side: the suspects call for the timeline
    (more candidates than the API's default), the rollbacks, the layout and the template."""
    cur = ledger.cursor()
    who = Viewer(True, True, True, "bench", None, "x", True)
    template = ui_routes.env.get_template("incident.html")
    wall, cpu, size = [], [], 0
    for incident in incidents:
        began, began_cpu = time.perf_counter(), time.process_time()
        page = ui_views.incident_page(cur, incident, LOOKBACK)
        html = template.render(
            who=who, path="/", lookback="24h", lookbacks=ui_routes.LOOKBACKS, **page
        )
        wall.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
        size += len(html)
    print(f"incident page (query + render, warm), wall: {percentiles(wall)}")
    print(f"incident page (query + render, warm), CPU:  {percentiles(cpu)}")
    print(f"  page size: mean {size / len(incidents) / 1024:.1f} KiB")


def bench_list_page(ledger: Ledger, repeat: int) -> None:
    """What ``GET /ui/`` does server-side: the incident list (open first, then the latest)
    with each row's top suspect, and the template."""
    cur = ledger.cursor()
    who = Viewer(True, True, True, "bench", None, "x", True)
    template = ui_routes.env.get_template("list.html")
    wall, cpu = [], []
    for _ in range(repeat):
        began, began_cpu = time.perf_counter(), time.process_time()
        html = template.render(who=who, path="/ui/", incidents=ui_views.incident_list(cur))
        wall.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
    print(f"incident list /ui/ (query + render, warm), wall: {percentiles(wall)}")
    print(f"incident list /ui/ (query + render, warm), CPU:  {percentiles(cpu)}")
    print(f"  page size: {len(html) / 1024:.1f} KiB")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_http(ledger: Ledger, incidents: list[str]) -> None:
    state = AppState(
        ledger=ledger,
        settings=Settings(db_path=Path(ledger.path)),
        consumer_status=ConsumerStatus,
        publish=lambda events: None,
    )
    port = _free_port()
    config = uvicorn.Config(create_app(state), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    samples, overhead, pages, lists = [], [], [], []
    cur = ledger.cursor()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for incident in incidents:
                # The same call without HTTP just before: the difference is what HTTP adds.
                direct = _measure(cur, [incident])[0][0]
                began = time.perf_counter()
                response = client.get(f"/v1/incidents/{incident}/suspects")
                samples.append((time.perf_counter() - began) * 1000)
                overhead.append(samples[-1] - direct)
                response.raise_for_status()
                began = time.perf_counter()
                client.get(f"/ui/incidents/{incident}").raise_for_status()
                pages.append((time.perf_counter() - began) * 1000)
                began = time.perf_counter()
                client.get("/ui/").raise_for_status()
                lists.append((time.perf_counter() - began) * 1000)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    print(f"suspects (HTTP, one client, warm): {percentiles(samples)}")
    print(f"incident page /ui/incidents/ID (HTTP, one client, warm): {percentiles(pages)}")
    print(f"incident list /ui/ (HTTP, one client, warm): {percentiles(lists)}")
    print(
        f"  HTTP overhead (HTTP minus the same call without HTTP just before): median "
        f"{statistics.median(overhead):.1f} ms, mean {statistics.mean(overhead):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--http", type=int, default=100, help="calls through HTTP (0: none)")
    parser.add_argument("--lists", type=int, default=40, help="times the list page is built")
    parser.add_argument(
        "--warm-up", action="store_true", help="run the server's start-up warm-up first"
    )
    args = parser.parse_args()
    if not args.path.exists():
        raise SystemExit(f"{args.path} does not exist; make it with bench/gen_ledger.py")
    ledger = Ledger.open(args.path, read_only=True)
    counts = (
        ledger.cursor()
        .execute(
            "SELECT (SELECT count(*) FROM deployments), (SELECT count(*) FROM deployment_changes),"
            " (SELECT count(*) FROM incidents)"
        )
        .fetchone()
    )
    print(
        f"ledger {args.path}: {counts[0]:,} deployments, {counts[1]:,} shipped changes, "
        f"{counts[2]:,} incidents"
    )
    incidents = incidents_sample(ledger, args.calls)
    if args.warm_up:
        began = time.perf_counter()
        warmed = set(warm_up(ledger))
        incidents = [incident for incident in incidents if incident not in warmed]
        print(
            f"warm-up: {len(warmed)} latest incidents in {time.perf_counter() - began:.1f} s "
            f"(left out of the sample: {args.calls - len(incidents)})"
        )
    bench_function(ledger, incidents)
    bench_incident_page(ledger, incidents)
    bench_list_page(ledger, args.lists)
    if args.http:
        bench_http(ledger, incidents[: args.http])


if __name__ == "__main__":
    main()
