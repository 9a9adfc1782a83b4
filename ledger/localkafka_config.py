"""What the local broker (ledger/localkafka.py) is made of: its versions, where its files
live, the configuration it is started with, and the small file and program helpers the jar
fetch and the process control share.

Layout: jars in the cache_dir setting (``$PROVLEDGER_CACHE_DIR``, default
``~/.cache/provledger``) under ``kafka-<version>/lib``; everything else in the data dir (default
``~/.local/share/provledger/kafka``): server.properties, log4j2.properties, cluster.id,
broker.pid, broker.log (the broker's own log), broker.out (JVM stdout/stderr), kraft/ (topic data).
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
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": controller,
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{controller}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(log_dir),
        # One node: internal topics cannot have more than one replica.
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
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
