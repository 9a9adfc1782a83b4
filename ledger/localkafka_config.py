"""What the local broker (ledger/localkafka.py) is made of: its versions, where its files
live, the configuration it is started with, and the small file and program helpers the jar
fetch and the process control share.

Layout: jars in the cache_dir setting (``$PROVLEDGER_CACHE_DIR``, default
``~/.cache/provledger``) under ``kafka-<version>/lib``; everything else in the data dir (default
``~/.local/share/provledger/kafka``): server.properties, log4j2.properties, cluster.id,
broker.pid, broker.log (the broker's own log), broker.out (JVM stdout/stderr), kraft/ (topic data).
A three-broker cluster keeps cluster.id in its data dir and one such layout per node in
node-1/, node-2/ and node-3/.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from provenance_ledger.ledger.settings import LocalKafkaSettings
from provenance_ledger.schemas.errors import LocalFailure

KAFKA_VERSION = "4.1.1"
# Kafka 4.1 logs through slf4j-api 1.7.x; without this binding the broker logs nothing at all.
LOG4J_VERSION = "2.24.3"
DEFAULT_PORT = 9092
HOST = "127.0.0.1"
# `kafka start --brokers 3`: a quorum of three voters survives one node down, and so do
# writes with acks=all at two in-sync replicas.
CLUSTER_BROKERS = 3
CLUSTER_MIN_ISR = 2

# Serial GC: a 512 MiB heap gains nothing from G1's concurrent threads on a 2-core box, and
# fewer GC threads compete with the broker. Kafka is the log of record: on OOM, exit rather
# than limp on.
JVM_OPTS = (
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)


class BrokerError(RuntimeError, LocalFailure):
    """The local broker could not be fetched, started or stopped."""


def cache_dir(root: Path | None = None) -> Path:
    """Where this version's jars are kept, under ``root`` (the cache_dir setting)."""
    return (root or LocalKafkaSettings().cache_dir) / f"kafka-{KAFKA_VERSION}"


def data_path(data_dir: Path | str | None) -> Path:
    """Absolute: the broker runs in its data dir and is recognised by its config's path."""
    return Path(os.path.abspath(data_dir or LocalKafkaSettings().data_dir))


def check_port(port: int) -> None:
    if not 1 <= port <= 65534:
        raise ValueError(f"port must be in 1..65534 (the controller uses port+1), got {port}")


def render_server_properties(port: int, log_dir: Path) -> str:
    """server.properties for one combined broker+controller node on 127.0.0.1:port (broker)
    and port+1 (controller)."""
    check_port(port)
    controller = f"{HOST}:{port + 1}"
    return _render(
        _node_settings(1, ("controller.quorum.bootstrap.servers", controller), port, port + 1)
        | {"log.dirs": str(log_dir)}
        | _replication(1)
        | _SHARED
    )


def cluster_ports(port: int, brokers: int = CLUSTER_BROKERS) -> tuple[list[int], list[int]]:
    """Client ports port.. and controller ports right after them, one each per node."""
    if not 1 <= port <= 65536 - 2 * brokers:
        raise ValueError(
            f"port must be in 1..{65536 - 2 * brokers} ({brokers} brokers use "
            f"{2 * brokers} consecutive ports from it), got {port}"
        )
    clients = list(range(port, port + brokers))
    return clients, [client + brokers for client in clients]


def render_cluster_node_properties(node_id: int, port: int, log_dir: Path) -> str:
    """server.properties for node ``node_id`` (1-based) of a static three-voter KRaft cluster
    whose first client port is ``port`` (see cluster_ports)."""
    clients, controllers = cluster_ports(port)
    voters = ",".join(f"{n}@{HOST}:{p}" for n, p in enumerate(controllers, start=1))
    node = _node_settings(
        node_id,
        ("controller.quorum.voters", voters),
        clients[node_id - 1],
        controllers[node_id - 1],
    )
    return _render(
        node
        | {"log.dirs": str(log_dir)}
        | _replication(CLUSTER_BROKERS)
        | {
            # Every topic on all three nodes, and a write acknowledged (acks=all) only once
            # two hold it: one node may die without losing an accepted event.
            "default.replication.factor": str(CLUSTER_BROKERS),
            "min.insync.replicas": str(CLUSTER_MIN_ISR),
        }
        | _SHARED
    )


def _node_settings(
    node_id: int, quorum: tuple[str, str], port: int, controller_port: int
) -> dict[str, str]:
    return {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        quorum[0]: quorum[1],
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    }


def _replication(replicas: int) -> dict[str, str]:
    """Internal topics on every node; one node may be down while their writes go on."""
    min_isr = str(min(replicas, CLUSTER_MIN_ISR))
    return {
        "offsets.topic.replication.factor": str(replicas),
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": str(replicas),
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": str(replicas),
        "share.coordinator.state.topic.min.isr": min_isr,
    }


_SHARED = {
    # No 3 s wait for more group members that will never come.
    "group.initial.rebalance.delay.ms": "0",
    # The default 128 MiB cleaner buffer would take a quarter of the heap.
    "log.cleaner.dedupe.buffer.size": "2097152",
    "num.partitions": "1",
    # The ledger creates its topic with the configs the log of record needs
    # (ledger/topic.py); a producer must not create it first with the broker's defaults.
    "auto.create.topics.enable": "false",
    # Kafka is the log of record: never delete events.
    "log.retention.ms": "-1",
}


def _render(settings: dict[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def render_log4j2_properties(log_file: Path) -> str:
    """Broker log to a size-capped file, never to the terminal that started it."""
    return f"""# The broker's own shutdown hook logs after log4j's would have stopped.
shutdownHook = disable
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.filePattern = {log_file}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 10MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
"""


def node_dir(data: Path, node_id: int) -> Path:
    """A cluster node's own data dir (laid out as a single broker's) inside the cluster's."""
    return data / f"node-{node_id}"


def is_cluster(data: Path) -> bool:
    return node_dir(data, 1).is_dir()


def write_config(data: Path, port: int) -> None:
    (data / "server.properties").write_text(render_server_properties(port, data / "kraft"))
    (data / "log4j2.properties").write_text(render_log4j2_properties(data / "broker.log"))


def log4j_opts(data: Path) -> list[str]:
    return [f"-Dlog4j2.configurationFile={data / 'log4j2.properties'}"]


def configured_port(data: Path) -> int:
    """The broker port the data dir was last started with (default if never started)."""
    try:
        lines = (data / "server.properties").read_text().splitlines()
    except OSError:
        return DEFAULT_PORT
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() == "listeners":
            for listener in value.split(","):
                if listener.strip().startswith("PLAINTEXT://"):
                    return int(listener.rsplit(":", 1)[1])
    return DEFAULT_PORT


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Serialise concurrent start/stop (two terminals, parallel test runs) on one directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def require(program: str, hint: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise BrokerError(f"`{program}` not found on PATH: {hint}")
    return found


def last_lines(lines: list[str], count: int = 30) -> str:
    return "\n".join(lines[-count:])
