"""Latency of the suspects query on a big ledger (make one with bench/gen_ledger.py).

Times ``suspects_for`` (what ``GET /v1/incidents/{id}/suspects`` runs) for many incidents,
then a smaller sample through real HTTP (uvicorn + httpx).

    python bench/bench_query.py /tmp/bench-ledger.duckdb [--calls 500] [--http 100] [--warm-up]
        [--compare /tmp/bench-ledger-deps.duckdb] [--without-packs]

``--without-packs`` reads the commit facts through the index on ``commit``, as before the
commit packs (ledger/commit_packs.py), which bench/gen_ledger.py makes: run with and without
to compare.

``--warm-up`` first runs the server's start-up warm-up (``query.api.warming.warm_up``); the
incidents it warmed are left out of the sample, so "cold" stays a first call.

``--compare`` times the same suspects calls on a second ledger, made by bench/gen_ledger.py
with the same scale plus ``--services`` and ``--config-changes`` (issue 17: the dependency
graph and configuration changes), and prints the ratios of its percentiles to the first's.

The cyclic garbage collector runs as in ``provledger serve`` (``ledger.batch.relax_gc``).
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

from provenance_ledger.ledger.batch import relax_gc
from provenance_ledger.ledger.commit_packs import marks
from provenance_ledger.ledger.health import ConsumerStatus
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger, ReadPosition
from provenance_ledger.query.api.app import create_app
from provenance_ledger.query.api.state import AppState
from provenance_ledger.query.api.warming import prepare, settle_collector, warm_up
from provenance_ledger.query.suspects import keptfacts
from provenance_ledger.query.suspects.dependencies import kept_catalog
from provenance_ledger.query.suspects.finder import suspects_for
from provenance_ledger.query.suspects.keptincidents import kept_incidents
from provenance_ledger.query.suspects.timelines import kept_timelines
from provenance_ledger.query.ui import routes as ui_routes
from provenance_ledger.query.ui import views as ui_views
from provenance_ledger.query.ui.session import Viewer

LOOKBACK = timedelta(hours=24)


def cuts(samples_ms: list[float]) -> tuple[float, float, float]:
    """p50, p95 and p99."""
    cuts = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def percentiles(samples_ms: list[float]) -> str:
    if len(samples_ms) < 2:  # quantiles need two samples
        return f"{samples_ms[0]:.1f} ms (n=1)" if samples_ms else "no samples"
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


def _measure(
    cur, incidents: list[str], position: ReadPosition | None = None
) -> tuple[list[float], list[float], list[int]]:
    """Wall-clock and CPU milliseconds per call (CPU time of this process, DuckDB's threads
    included: on a shared, busy machine it shows the cost without the waiting)."""
    wall, cpu, returned = [], [], []
    for incident in incidents:
        began, began_cpu = time.perf_counter(), time.process_time()
        _, suspects = suspects_for(cur, incident, LOOKBACK, 10, position)
        wall.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
        returned.append(len(suspects))
    return wall, cpu, returned


def bench_function(
    ledger: Ledger, incidents: list[str], prepared: list[str]
) -> dict[str, list[float]]:
    """Cold: the first call for each incident after opening the file (index nodes and data
    blocks read from disk), as for an incident looked up long after (a post-mortem). Warm:
    the same calls again, as a long-running server that has touched those parts of the
    ledger answers them. Prepared: for other incidents, the responder's first call after
    serve prepared the incident as it was written (query/api/warming.py: ``keep_warm``
    runs the call once on its own thread), as for an incident opened while serving."""
    cur = ledger.cursor()
    # What a server loads once, in its start-up warm-up: the in-memory copies the call reads
    # (query/suspects/timelines.py, keptincidents.py). Timed apart, so "cold" stays the
    # first call of an incident on a server that has started.
    began = time.perf_counter()
    position = ledger.read_position()
    timelines = kept_timelines(cur, *position)
    kept_incidents(cur, *position)
    print(f"in-memory copies loaded in {time.perf_counter() - began:.1f} s (once per process)")
    if timelines is not None:
        # Made by the first call that needs a rollback bound, again after each merge of the
        # deployments timeline (query/suspects/places.py); made here, so "cold" is a first call.
        began_cpu = time.process_time()
        timelines["deployments"].latest_at(("", ""), None, 0, None, 0)
        made_ms = (time.process_time() - began_cpu) * 1000
        print(f"  places of the kept deployments made in {made_ms:.0f} ms CPU (once per merge)")
    settle_collector()  # as the warm-up of ``provledger serve`` ends
    samples = {}
    for label in ("cold", "warm"):
        wall, cpu, returned = _measure(cur, incidents, position)
        samples[f"{label}, wall"], samples[f"{label}, CPU"] = wall, cpu
        print(f"suspects (query function), {label}, wall: {percentiles(wall)}")
        print(f"suspects (query function), {label}, CPU:  {percentiles(cpu)}")
    wall, cpu = [], []
    for incident in prepared:
        prepare(ledger, [incident])  # what keep_warm does as the incident is written
        one_wall, one_cpu, _ = _measure(cur, [incident], position)
        wall += one_wall
        cpu += one_cpu
    samples["prepared, wall"], samples["prepared, CPU"] = wall, cpu
    print(f"suspects (query function), first call once prepared, CPU: {percentiles(cpu)}")
    print(f"  suspects returned per call: mean {statistics.mean(returned):.1f}")
    print(f"  load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return samples


def _reach(ledger: Ledger, incidents: list[str]) -> str:
    """How many services the sampled incidents reach through the catalog at impact start
    (their own included): what the dependency-aware suspects call looks at."""
    cur = ledger.cursor()
    catalog = kept_catalog(cur)
    if catalog is None:
        return "catalog too large to keep in memory"
    rows = cur.execute(
        "SELECT services, impact_started_at FROM incident_view WHERE list_contains(?, incident)",
        [incidents],
    ).fetchall()
    sizes = [len(catalog.paths(tuple(services), at)) for services, at in rows]
    return f"mean {statistics.mean(sizes):.0f}, max {max(sizes)} (n={len(sizes)})"


def bench_compare(
    path: Path, incidents: list[str], prepared: list[str], base: dict[str, list[float]]
) -> None:
    """The suspects call for the same incidents (the generator names them alike) on the
    ledger with the dependency graph and configuration changes, and its percentiles over the
    first ledger's."""
    ledger = Ledger.open(path, read_only=True)
    print(f"\nledger {path}: {_counts(ledger)}")
    print(f"  services reached per incident (6 hops at impact start): {_reach(ledger, incidents)}")
    extended = bench_function(ledger, incidents, prepared)
    for label in base:
        ratios = "  ".join(
            f"p{cut} {new / old:.2f}x"
            for cut, new, old in zip(
                (50, 95, 99), cuts(extended[label]), cuts(base[label]), strict=True
            )
        )
        print(f"suspects (query function), {label}, with / without: {ratios}")
    ledger.close()


def bench_incident_page(ledger: Ledger, incidents: list[str], prepared: bool) -> None:
    """What ``GET /ui/incidents/{id}`` does server-side: the suspects call for the timeline
    (more candidates than the API's default), the rollbacks, the layout and the template;
    ``prepared``: each incident prepared just before, as ``keep_warm`` does once written."""
    when = "first view once prepared" if prepared else "after the API's calls"
    cur = ledger.cursor()
    who = Viewer(True, True, True, "bench", None, "x", True)
    template = ui_routes.env.get_template("incident.html")
    wall, cpu, size = [], [], 0
    for incident in incidents:
        if prepared:
            prepare(ledger, [incident])
        began, began_cpu = time.perf_counter(), time.process_time()
        page = ui_views.incident_page(cur, incident, LOOKBACK, ledger.read_position())
        html = template.render(
            who=who, path="/", lookback="24h", lookbacks=ui_routes.LOOKBACKS, **page
        )
        wall.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
        size += len(html)
    print(f"incident page (query + render, {when}), wall: {percentiles(wall)}")
    print(f"incident page (query + render, {when}), CPU:  {percentiles(cpu)}")
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
        rows = ui_views.incident_list(cur, position=ledger.read_position())
        html = template.render(who=who, path="/ui/", incidents=rows)
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
                direct = _measure(cur, [incident], ledger.read_position())[0][0]
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


def _counts(ledger: Ledger) -> str:
    counts = (
        ledger.cursor()
        .execute(
            "SELECT (SELECT count(*) FROM deployments), (SELECT count(*) FROM deployment_changes),"
            " (SELECT count(*) FROM incidents), (SELECT count(DISTINCT service)"
            " FROM service_registrations), (SELECT count(*) FROM config_changes)"
        )
        .fetchone()
    )
    assert counts is not None
    return (
        f"{counts[0]:,} deployments, {counts[1]:,} shipped changes, {counts[2]:,} incidents, "
        f"{counts[3]:,} registered services, {counts[4]:,} configuration changes"
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
    parser.add_argument(
        "--compare", type=Path, help="a ledger with --services and --config-changes to compare"
    )
    parser.add_argument(
        "--without-packs",
        action="store_true",
        help="read commit facts through the index, as before the commit packs, to compare",
    )
    args = parser.parse_args()
    # The collector as in `provledger serve`, whose consumer sets it for the whole process:
    # with Python's defaults its full passes land in a call now and then (p99 twice as high).
    relax_gc()
    if args.without_packs:
        keptfacts.TAIL_MOST = -1  # the packs are never far enough behind to be read
    if not args.path.exists():
        raise SystemExit(f"{args.path} does not exist; make it with bench/gen_ledger.py")
    if args.compare and not args.compare.exists():
        raise SystemExit(f"{args.compare} does not exist; make it with bench/gen_ledger.py")
    ledger = Ledger.open(args.path, read_only=True)
    print(f"ledger {args.path}: {_counts(ledger)}")
    packed = marks(ledger.cursor())
    read = "not read (--without-packs)" if args.without_packs else "read"
    print(
        f"commit packs: deployments up to seq {packed.deployments_through:,}, facts up to seq "
        f"{packed.facts_through:,}; {read}"
    )
    # Samples apart (cold and warm calls; first calls once prepared; first views of the
    # incident page once prepared): no first call of one was made by another.
    every = incidents_sample(ledger, 3 * args.calls)
    incidents, prepared, pages = (
        every[at : at + args.calls] for at in (0, args.calls, 2 * args.calls)
    )
    if args.warm_up:
        began = time.perf_counter()
        warmed = set(warm_up(ledger))
        incidents = [incident for incident in incidents if incident not in warmed]
        prepared = [incident for incident in prepared if incident not in warmed]
        pages = [incident for incident in pages if incident not in warmed]
        print(
            f"warm-up: {len(warmed)} latest incidents in {time.perf_counter() - began:.1f} s "
            f"(left out of the samples: {len(set(every) & warmed)})"
        )
    base = bench_function(ledger, incidents, prepared)
    if args.compare:
        bench_compare(args.compare, incidents, prepared, base)
    bench_incident_page(ledger, incidents, prepared=False)
    bench_incident_page(ledger, pages, prepared=True)
    if args.lists:
        bench_list_page(ledger, args.lists)
    if args.http:
        bench_http(ledger, incidents[: args.http])


if __name__ == "__main__":
    main()
