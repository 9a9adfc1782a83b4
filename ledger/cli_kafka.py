"""``provledger kafka start|stop|status``: the local jar-based Kafka broker, no Docker."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click
from rich.console import Console

from provenance_ledger.ledger import localkafka
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.query.cli.output import json_option, print_json
from provenance_ledger.schemas.errors import Finding

console = Console(stderr=True)


def _data_dir(ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path:
    return value or ctx.ensure_object(Settings).local_kafka.data_dir


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    callback=_data_dir,
    help="Broker data directory [default: $PROVLEDGER_KAFKA_DATA_DIR or "
    "~/.local/share/provledger/kafka].",
)


@click.group()
def kafka() -> None:
    """A local single-node Kafka broker run from Maven Central jars (Java 17+; Maven once).

    \b
    Example:
      provledger kafka start
      export PROVLEDGER_KAFKA_BOOTSTRAP=127.0.0.1:9092
      provledger kafka stop
    """


@kafka.command()
@click.option(
    "--port",
    default=localkafka.DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(1, 65534),
    help="Broker port on 127.0.0.1; the controller uses PORT+1.",
)
@data_dir_option
@click.option(
    "--timeout",
    default=90.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds to wait for the broker to answer (not counting the first jar download).",
)
@json_option("Print the running broker (bootstrap, pid, data dir, version) as JSON.")
@click.pass_obj
def start(settings: Settings, port: int, data_dir: Path, timeout: float, as_json: bool) -> None:
    """Start the broker and wait until it answers; do nothing if it already runs.

    The first run fetches the Kafka jars from Maven Central (about 45 MB) into
    ~/.cache/provledger (or $PROVLEDGER_CACHE_DIR) and formats the storage.

    \b
    Example:
      provledger kafka start
      provledger kafka start --port 19092 --data-dir /tmp/kafka-test --timeout 60
    """
    with console.status(f"starting Kafka {localkafka.KAFKA_VERSION}…") as spinner:

        def progress(message: str) -> None:
            console.print(f"  {message}")  # stays on screen after the spinner is gone
            spinner.update(message)

        info = localkafka.start(
            port, data_dir, timeout, progress, cache_root=settings.local_kafka.cache_dir
        )
    if as_json:
        print_json(asdict(info))
        return
    state = "already running" if info.already_running else "started"
    console.print(
        f"[green]✓[/] Kafka {info.version} {state} on {info.bootstrap} "
        f"(pid {info.pid}, data {info.data_dir})"
    )


@kafka.command()
@data_dir_option
@click.option(
    "--timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to wait for a clean shutdown before SIGKILL.",
)
@json_option("Print whether a running broker was stopped as JSON.")
def stop(data_dir: Path | None, timeout: float, as_json: bool) -> None:
    """Stop the broker (clean shutdown, SIGKILL after the timeout); fine if it is not running.

    \b
    Example:
      provledger kafka stop
      provledger kafka stop --data-dir /tmp/kafka-test
    """
    with console.status("stopping Kafka…"):
        stopped = localkafka.stop(data_dir=data_dir, timeout=timeout)
    if as_json:
        print_json({"stopped": stopped})
        return
    console.print("[green]✓[/] Kafka stopped" if stopped else "Kafka was not running")


@kafka.command(epilog="Exit 1 when the broker does not run.")
@data_dir_option
@json_option("Print running, pid, bootstrap, data dir and version as JSON.")
def status(data_dir: Path | None, as_json: bool) -> None:
    """Say whether the broker runs, where, and with which pid; exit 1 if it does not run.

    \b
    Example:
      provledger kafka status
      provledger kafka status || provledger kafka start
    """
    st = localkafka.status(data_dir=data_dir)
    if as_json:
        print_json(asdict(st))
    else:
        click.echo(f"running:   {'yes' if st.running else 'no'}")
        click.echo(f"pid:       {st.pid if st.pid is not None else '-'}")
        click.echo(f"bootstrap: {st.bootstrap}")
        click.echo(f"data dir:  {st.data_dir}")
        click.echo(f"version:   {st.version}")
    if not st.running:
        raise Finding(f"no broker runs from {st.data_dir}")
