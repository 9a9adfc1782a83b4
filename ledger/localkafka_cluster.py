"""Three local Kafka brokers as one KRaft cluster (every node broker and controller, a static
quorum of three voters, replication factor 3, min.insync.replicas 2), to watch failover on a
laptop and to test against it. Each node is a single broker's layout (ledger/localkafka.py)
in node-N/ of the cluster's data dir, so nodes can be stopped and started one at a time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from provenance_ledger.ledger.localkafka import (
    accepts,
    alive,
    answers,
    launch,
    log_tail,
    running_pid,
    storage_tool,
)
from provenance_ledger.ledger.localkafka_config import (
    CLUSTER_BROKERS,
    DEFAULT_PORT,
    HOST,
    KAFKA_VERSION,
    BrokerError,
    cache_dir,
    cluster_ports,
    configured_port,
    data_path,
    is_cluster,
    locked,
    node_dir,
    render_cluster_node_properties,
    render_log4j2_properties,
    require,
)
from provenance_ledger.ledger.localkafka_jars import ensure_jars

Progress = Callable[[str], None]
NODES = range(1, CLUSTER_BROKERS + 1)


@dataclass(frozen=True)
class NodeStatus:
    node: int
    running: bool
    pid: int | None
    bootstrap: str


@dataclass(frozen=True)
class ClusterStatus:
    running: bool
    """Every node runs."""
    bootstrap: str
    data_dir: Path
    version: str
    nodes: list[NodeStatus]
    already_running: bool = False
    """After start: every node was running before it was called."""


def start(
    port: int = DEFAULT_PORT,
    data_dir: Path | str | None = None,
    timeout: float = 120,
    on_progress: Progress | None = None,
    cache_root: Path | None = None,
    only: int | None = None,
) -> ClusterStatus:
    """Start the nodes that are not running (only node ``only`` if given) and return once the
    cluster lists all its brokers. Client ports are port..port+2, controllers port+3..port+5.
    ``timeout`` bounds the wait for the launched nodes, not the one-time jar fetch."""
    data = data_path(data_dir)
    say = on_progress or (lambda _message: None)
    clients, _controllers = cluster_ports(port)
    if (data / "server.properties").exists():
        raise BrokerError(f"{data} holds a single broker; give the cluster another --data-dir")
    data.mkdir(parents=True, exist_ok=True)
    with locked(data / ".lock"):
        running = {node: running_pid(node_dir(data, node)) for node in NODES}
        _check_same_ports(data, running, port)
        wanted = [only] if only is not None else list(NODES)
        missing = [node for node in wanted if running[node] is None]
        launched = _launch_nodes(data, port, missing, say, cache_root) if missing else {}
        expected = sum(pid is not None for pid in running.values()) + len(launched)
        try:
            _wait_ready(data, clients, launched, expected, timeout)
        except BaseException:  # failed or Ctrl-C: leave no half-started node behind
            _terminate(data, launched, signal.SIGTERM, 10)
            raise
    return _status(data, already_running=not missing)


def stop(
    data_dir: Path | str | None = None,
    timeout: float = 30,
    only: int | None = None,
    kill: bool = False,
) -> bool:
    """Stop every node (or node ``only``): SIGTERM, SIGKILL after ``timeout`` seconds, or at
    once with ``kill`` (a crash, to watch failover). Returns False if none was running."""
    data = data_path(data_dir)
    if not is_cluster(data):
        return False
    with locked(data / ".lock"):
        nodes = [only] if only is not None else list(NODES)
        pids = {node: running_pid(node_dir(data, node)) for node in nodes}
        targets = {node: pid for node, pid in pids.items() if pid is not None}
        _terminate(data, targets, signal.SIGKILL if kill else signal.SIGTERM, timeout)
        for node in nodes:
            (node_dir(data, node) / "broker.pid").unlink(missing_ok=True)
        return bool(targets)


def status(data_dir: Path | str | None = None) -> ClusterStatus:
    return _status(data_path(data_dir), already_running=False)


def _status(data: Path, *, already_running: bool) -> ClusterStatus:
    nodes = []
    for node in NODES:
        pid = running_pid(node_dir(data, node))
        bootstrap = f"{HOST}:{configured_port(node_dir(data, node))}"
        nodes.append(NodeStatus(node, pid is not None, pid, bootstrap))
    return ClusterStatus(
        running=all(node.running for node in nodes),
        bootstrap=",".join(node.bootstrap for node in nodes),
        data_dir=data,
        version=KAFKA_VERSION,
        nodes=nodes,
        already_running=already_running,
    )


def first_port(data: Path) -> int:
    """The first client port the cluster in ``data`` was last started with."""
    return configured_port(node_dir(data, 1))


def _check_same_ports(data: Path, running: dict[int, int | None], port: int) -> None:
    up = [node for node, pid in running.items() if pid is not None]
    if up and first_port(data) != port:
        raise BrokerError(
            f"nodes {up} of the cluster in {data} run from port {first_port(data)}; "
            f"stop them first to use port {port}"
        )


def _launch_nodes(
    data: Path, port: int, nodes: list[int], say: Progress, cache_root: Path | None
) -> dict[int, int]:
    java = require(
        "java",
        "install Java 17+ to run a local Kafka (e.g. apt-get install openjdk-17-jre-headless)",
    )
    clients, controllers = cluster_ports(port)
    for node in nodes:
        for busy in (clients[node - 1], controllers[node - 1]):
            if accepts(busy):
                raise BrokerError(f"port {busy} on {HOST} is already in use by another process")
    lib = ensure_jars(say, cache_dir(cache_root))
    for node in nodes:
        _write_node_config(data, node, port)
    cluster_id = _cluster_id(java, lib, data)
    launched: dict[int, int] = {}
    for node in nodes:
        home = node_dir(data, node)
        if not (home / "kraft" / "meta.properties").exists():
            say(f"formatting Kafka storage of node {node} in {home}…")
            storage_tool(java, lib, home, "format", "-t", cluster_id,
                         "-c", str(home / "server.properties"))  # fmt: skip
        say(f"starting Kafka {KAFKA_VERSION} node {node} on {HOST}:{clients[node - 1]}…")
        launched[node] = launch(java, lib, home)
    return launched


def _write_node_config(data: Path, node: int, port: int) -> None:
    home = node_dir(data, node)
    home.mkdir(parents=True, exist_ok=True)
    properties = render_cluster_node_properties(node, port, home / "kraft")
    (home / "server.properties").write_text(properties)
    (home / "log4j2.properties").write_text(render_log4j2_properties(home / "broker.log"))


def _cluster_id(java: str, lib: Path, data: Path) -> str:
    """One id for all nodes: a node formatted with another would never join."""
    id_file = data / "cluster.id"
    if not id_file.exists():
        new_id = storage_tool(java, lib, node_dir(data, 1), "random-uuid").strip()
        id_file.write_text(new_id + "\n")
    return id_file.read_text().strip()


def _wait_ready(
    data: Path, clients: list[int], launched: dict[int, int], expected: int, timeout: float
) -> None:
    """Each launched node answers and lists the ``expected`` running brokers (after a full
    start: all of them, so a topic with replication factor 3 can be created)."""
    deadline = time.monotonic() + timeout
    while not all(answers(clients[node - 1], expected) for node in launched):
        for node, pid in launched.items():
            if not alive(pid, node_dir(data, node)):
                tail = log_tail(node_dir(data, node))
                raise BrokerError(f"Kafka node {node} exited during start-up.\n{tail}")
        if time.monotonic() > deadline:
            tails = "\n".join(log_tail(node_dir(data, node)) for node in launched)
            raise BrokerError(
                f"the Kafka cluster in {data} did not list {expected} brokers within "
                f"{timeout:g} s; the nodes started now were stopped.\n{tails}"
            )
        time.sleep(0.5)


def _terminate(data: Path, pids: dict[int, int], first: signal.Signals, timeout: float) -> None:
    """Signal every node at once: stopped one by one, the last ones lose their quorum and
    wait for it through their whole clean-shutdown timeout."""
    for sig, wait in ((first, timeout), (signal.SIGKILL, 10.0)):
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not any(_holds_on(pid, node_dir(data, node)) for node, pid in pids.items()):
                return
            time.sleep(0.1)
    survivors = [pid for node, pid in pids.items() if alive(pid, node_dir(data, node))]
    raise BrokerError(f"Kafka nodes (pids {survivors}) survived SIGKILL")


def _holds_on(pid: int, home: Path) -> bool:
    """Whether the node may still hold its ports: a killed JVM loses its command line (alive()
    says no) and turns zombie while its other threads still exit and hold the sockets, so wait
    until the zombie is its last thread."""
    if alive(pid, home):
        return True
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    state, threads = fields[0], int(fields[17])
    return state not in ("Z", "X") or threads > 1
