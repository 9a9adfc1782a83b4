"""``provledger kafka start|stop|status``: the local jar-based Kafka broker, no Docker, or a
three-broker cluster of them (``--brokers 3``)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click
from rich.console import Console

from provenance_ledger.ledger import localkafka, localkafka_cluster
from provenance_ledger.ledger.localkafka_config import CLUSTER_BROKERS, is_cluster
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
    "~/.local/share/provledger/kafka]; a cluster keeps its nodes in node-1/..node-3/.",
)
node_option = click.option(
    "--node",
    type=click.IntRange(1, CLUSTER_BROKERS),
    default=None,
    help="Only this node of the three-broker cluster in the data dir.",
)


def _require_cluster(data_dir: Path) -> None:
    if not is_cluster(data_dir):
        raise click.UsageError(f"no three-broker cluster in {data_dir}: --node needs one")


@click.group()
def kafka() -> None:
    """A local Kafka broker, or a three-broker cluster, run from Maven Central jars (Java 17+;
    Maven once).

    \b
    Example:
      provledger kafka start
      export PROVLEDGER_KAFKA_BOOTSTRAP=127.0.0.1:9092
      provledger kafka stop
      provledger kafka start --brokers 3 --port 29092 --data-dir /tmp/kafka3
      provledger kafka stop --node 2 --kill --data-dir /tmp/kafka3
    """


@kafka.command()
@click.option(
    "--port",
    default=localkafka.DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(1, 65534),
    help="Broker port on 127.0.0.1; the controller uses PORT+1. With --brokers 3: client "
    "ports PORT..PORT+2, controllers PORT+3..PORT+5.",
)
@click.option(
    "--brokers",
    type=click.Choice(["1", str(CLUSTER_BROKERS)]),
    default=None,
    help="1: a single broker; 3: a KRaft cluster (3 voters, replication factor 3, "
    "min.insync.replicas 2) [default: what the data dir holds, else 1].",
)
@node_option
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
def start(
    settings: Settings,
    port: int,
    brokers: str | None,
    node: int | None,
    data_dir: Path,
    timeout: float,
    as_json: bool,
) -> None:
    """Start the broker and wait until it answers; do nothing if it already runs.

    The first run fetches the Kafka jars from Maven Central (about 45 MB) into
    ~/.cache/provledger (or $PROVLEDGER_CACHE_DIR) and formats the storage. A cluster
    starts whichever of its nodes are down (with --node, only that one, on the cluster's
    ports).

    \b
    Example:
      provledger kafka start
      provledger kafka start --port 19092 --data-dir /tmp/kafka-test --timeout 60
      provledger kafka start --brokers 3 --port 29092 --data-dir /tmp/kafka3
      provledger kafka start --node 2 --data-dir /tmp/kafka3
    """
    cluster = node is not None or brokers == str(CLUSTER_BROKERS)
    if brokers is None and is_cluster(data_dir):
        cluster = True
    if node is not None:
        _require_cluster(data_dir)
        port = localkafka_cluster.first_port(data_dir)
    with console.status(f"starting Kafka {localkafka.KAFKA_VERSION}…") as spinner:

        def progress(message: str) -> None:
            console.print(f"  {message}")  # stays on screen after the spinner is gone
            spinner.update(message)

        cache = settings.local_kafka.cache_dir
        if cluster:
            started = localkafka_cluster.start(
                port, data_dir, timeout, progress, cache_root=cache, only=node
            )
        else:
            info = localkafka.start(port, data_dir, timeout, progress, cache_root=cache)
    if as_json:
        print_json(asdict(started if cluster else info))
    elif cluster:
        _print_cluster_started(started, node)
    else:
        state = "already running" if info.already_running else "started"
        console.print(
            f"[green]✓[/] Kafka {info.version} {state} on {info.bootstrap} "
            f"(pid {info.pid}, data {info.data_dir})"
        )


def _print_cluster_started(cluster: localkafka_cluster.ClusterStatus, node: int | None) -> None:
    state = "already running" if cluster.already_running else "started"
    what = "cluster" if node is None else f"cluster node {node}"
    console.print(f"[green]✓[/] Kafka {cluster.version} {what} {state} (data {cluster.data_dir})")
    for line in _node_lines(cluster):
        console.print(f"  {line}")
    console.print(f"  bootstrap: {cluster.bootstrap}")


def _node_lines(cluster: localkafka_cluster.ClusterStatus) -> list[str]:
    return [
        f"node {n.node}: {n.bootstrap} " + (f"up (pid {n.pid})" if n.running else "down")
        for n in cluster.nodes
    ]


@kafka.command()
@node_option
@click.option(
    "--kill",
    is_flag=True,
    help="SIGKILL at once, no clean shutdown (a crash, to watch the cluster fail over).",
)
@data_dir_option
@click.option(
    "--timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to wait for a clean shutdown before SIGKILL.",
)
@json_option("Print whether a running broker was stopped as JSON.")
def stop(node: int | None, kill: bool, data_dir: Path, timeout: float, as_json: bool) -> None:
    """Stop the broker (clean shutdown, SIGKILL after the timeout); fine if it is not running.
    A cluster stops all its nodes at once, or only --node.

    \b
    Example:
      provledger kafka stop
      provledger kafka stop --data-dir /tmp/kafka-test
      provledger kafka stop --node 2 --kill --data-dir /tmp/kafka3
    """
    if node is not None:
        _require_cluster(data_dir)
    with console.status("stopping Kafka…"):
        if is_cluster(data_dir):
            stopped = localkafka_cluster.stop(data_dir, timeout, only=node, kill=kill)
        elif kill:
            stopped = localkafka.stop(data_dir=data_dir, timeout=0)
        else:
            stopped = localkafka.stop(data_dir=data_dir, timeout=timeout)
    if as_json:
        print_json({"stopped": stopped})
        return
    what = "Kafka" if node is None else f"Kafka node {node}"
    console.print(f"[green]✓[/] {what} stopped" if stopped else f"{what} was not running")


@kafka.command(epilog="Exit 1 when the broker (or a node of the cluster) does not run.")
@data_dir_option
@json_option("Print running, pid, bootstrap, data dir and version (and a cluster's nodes) as JSON.")
def status(data_dir: Path, as_json: bool) -> None:
    """Say whether the broker runs, where, and with which pid; exit 1 if it does not run.
    For a cluster, each node and whether it is up; exit 1 unless all are.

    \b
    Example:
      provledger kafka status
      provledger kafka status || provledger kafka start
    """
    if is_cluster(data_dir):
        _cluster_status(localkafka_cluster.status(data_dir), as_json)
        return
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


def _cluster_status(st: localkafka_cluster.ClusterStatus, as_json: bool) -> None:
    if as_json:
        print_json(asdict(st))
    else:
        up = sum(n.running for n in st.nodes)
        click.echo(f"running:   {'yes' if st.running else 'no'} ({up} of {len(st.nodes)} nodes)")
        for line in _node_lines(st):
            click.echo(line)
        click.echo(f"bootstrap: {st.bootstrap}")
        click.echo(f"data dir:  {st.data_dir}")
        click.echo(f"version:   {st.version}")
    if not st.running:
        down = [n.node for n in st.nodes if not n.running]
        raise Finding(f"nodes {down} of the cluster in {st.data_dir} do not run")
