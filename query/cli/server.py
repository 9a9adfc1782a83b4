"""``provledger serve`` and ``provledger up``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import click
from rich.console import Console

from provenance_ledger.ledger.settings import Settings
from provenance_ledger.producers.demo import DEMO_INCIDENT, SOURCE, demo_events
from provenance_ledger.producers.emitter import Emitter
from provenance_ledger.producers.envelope import build_event
from provenance_ledger.query.api import server
from provenance_ledger.query.cli.client import api_get
from provenance_ledger.schemas.commandline import runnable
from provenance_ledger.schemas.errors import LocalFailure, RemoteError, Unreachable

console = Console(stderr=True, soft_wrap=True)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.pass_obj
def serve(settings: Settings, host: str, port: int) -> None:
    """Run the ledger consumer and the HTTP API in one process (one DuckDB writer).

    Reads the topic PROVLEDGER_TOPIC from PROVLEDGER_KAFKA_BOOTSTRAP into the DuckDB
    file PROVLEDGER_DB. Ctrl-C stops it cleanly.

    \b
    Example:
      PROVLEDGER_DB=/var/lib/provledger/ledger.duckdb provledger serve --port 8000
    """

    def announce(memory_limit: str) -> None:
        console.print(
            f"ledger {settings.db_path} (DuckDB memory limit {memory_limit}) ← kafka "
            f"{settings.kafka_bootstrap} topic {settings.topic}; API on http://{host}:{port}"
        )

    _run_server(settings, host, port, announce)
    console.print("stopped")


def _run_server(settings: Settings, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Serve until Ctrl-C, which uvicorn re-raises after its graceful shutdown: a normal stop."""
    try:
        server.serve(settings, host, port, on_started=announce)
    except KeyboardInterrupt:
        pass
    except SystemExit as exc:
        # uvicorn logs why it could not start (e.g. the port is taken), then exits 3.
        if exc.code:
            raise LocalFailure(
                f"the API could not start on {host}:{port}; uvicorn said why above"
            ) from None


def _load_demo(settings: Settings) -> None:
    with Emitter(settings.kafka_bootstrap, settings.topic) as emitter:
        for event_type, data, event_id, at in demo_events():
            emitter.send(build_event(event_type, data, SOURCE, event_id=event_id, time=at))


def _wait_for_demo(settings: Settings, timeout_s: float = 60) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            api_get(settings, f"/v1/incidents/{DEMO_INCIDENT}", timeout_s=2)
            return True
        except (Unreachable, RemoteError):  # not projected yet: 404
            time.sleep(0.3)
    return False


@click.command()
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="API port on 127.0.0.1.",
)
@click.option("--no-demo", is_flag=True, help="Do not load the demo incident story.")
@click.pass_obj
def up(settings: Settings, port: int, no_demo: bool) -> None:
    """Start everything a newcomer needs: a local Kafka broker (unless
    PROVLEDGER_KAFKA_BOOTSTRAP names one), the ledger and the API on 127.0.0.1:PORT,
    with a demo incident story loaded. Ctrl-C stops all of it.

    \b
    Example:
      provledger up
      provledger up --port 8080 --no-demo
    """
    from provenance_ledger.ledger import localkafka

    started_broker = False
    if not settings.bootstrap_from_env:
        with console.status("starting the local Kafka broker…"):
            info = localkafka.start(
                data_dir=settings.local_kafka.data_dir,
                on_progress=lambda message: console.print(message),
                cache_root=settings.local_kafka.cache_dir,
            )
        settings = replace(settings, kafka_bootstrap=info.bootstrap)
        # A broker that ran before `up` is someone else's: leave it running on the way out.
        started_broker = not info.already_running
        console.print(f"[green]✓[/] Kafka {localkafka.KAFKA_VERSION} on {info.bootstrap}")
    api = f"http://127.0.0.1:{port}"

    def announce(memory_limit: str) -> None:
        console.print(f"[green]✓[/] ledger {settings.db_path} (DuckDB memory limit {memory_limit})")
        console.print(f"[green]✓[/] API {api}  (docs: {api}/docs)")
        if no_demo:
            return
        _load_demo(settings)
        if _wait_for_demo(replace(settings, api_url=api)):
            console.print(f"[green]✓[/] demo incident {DEMO_INCIDENT} loaded\n")
            console.print(f"  suspects: {api}/v1/incidents/{DEMO_INCIDENT}/suspects")
            console.print(f"  incident: {api}/ui/incidents/{DEMO_INCIDENT}")
            suspects = runnable(f"suspects {DEMO_INCIDENT}")
            console.print(f"  try:      PROVLEDGER_API={api} {suspects}", markup=False)
        else:
            console.print(f"[yellow]![/] demo incident not visible after 60 s; see {api}/healthz")
        console.print("\nCtrl-C stops everything.")

    try:
        _run_server(settings, "127.0.0.1", port, announce)
    finally:
        if started_broker:
            with console.status("stopping the local Kafka broker…"):
                localkafka.stop(settings.local_kafka.data_dir)
    console.print("stopped")
