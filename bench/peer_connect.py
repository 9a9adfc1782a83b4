"""The Kafka Connect peer of bench/bench_peer.py: Connect's standalone worker (Apache Kafka's own
jars, the broker's version) running Debezium's JDBC sink connector into PostgreSQL.

The jars come from Maven Central once, the way the broker's do (ledger/localkafka_jars.py:
a private local repository, checksums enforced), into the cache beside the broker's jars:
the worker's classpath in lib/, the connector in plugins/ (its own class loader, as Connect
isolates plugins). Debezium 3.5 is built against Kafka 4.1.1, the broker's version.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from provenance_ledger.ledger import localkafka_config
from provenance_ledger.ledger.localkafka_config import (
    KAFKA_VERSION,
    LOG4J_VERSION,
    BrokerError,
    last_lines,
    locked,
    require,
)
from provenance_ledger.ledger.localkafka_jars import jar_checksum_problems, maven_command
from tests.support.servers import free_port

DEBEZIUM_VERSION = "3.5.0.Final"

_WORKER_DEPENDENCIES = [
    ("org.apache.kafka", "connect-runtime", KAFKA_VERSION),
    ("org.apache.kafka", "connect-json", KAFKA_VERSION),
    # Connect logs through slf4j 1.7.x, like the broker; this binding sends it to log4j2.
    ("org.apache.logging.log4j", "log4j-slf4j-impl", LOG4J_VERSION),
]
_PLUGIN_DEPENDENCIES = [("io.debezium", "debezium-connector-jdbc", DEBEZIUM_VERSION)]
# What the worker already has stays out of the plugin, as in Debezium's own plugin archive:
# a second jackson-databind in the plugin's class loader breaks the Jackson modules the
# worker's classpath registers ("Jdk8Module not a subtype"); Kafka's classes always come
# from the worker.
_PLUGIN_EXCLUDES = "-DexcludeGroupIds=com.fasterxml.jackson.core,org.apache.kafka,org.slf4j"


def connect_home() -> Path:
    return localkafka_config.cache_dir().parent / f"kafka-connect-{KAFKA_VERSION}"


def ensure_jars(say: Callable[[str], None]) -> tuple[Path, Path]:
    """(the worker's lib/ folder, the plugin path), fetched first if missing."""
    home = connect_home()
    # One local repository outside plugins/: Connect loads every jar under a plugin's folder.
    repo = home / "m2"
    with locked(home.parent / f"{home.name}.lock"):
        lib = _fetch(home / "worker", repo, _WORKER_DEPENDENCIES, say, [])
        plugin_home = home / "plugins" / "debezium-connector-jdbc"
        plugin = _fetch(plugin_home, repo, _PLUGIN_DEPENDENCIES, say, [_PLUGIN_EXCLUDES])
    return lib, plugin.parent.parent


def _fetch(
    folder: Path,
    repo: Path,
    dependencies: list[tuple[str, str, str]],
    say: Callable,
    options: list[str],
) -> Path:
    lib, done = folder / "lib", folder / ".complete"
    if done.exists():
        return lib
    mvn = require("mvn", "install Maven, needed once to fetch the Kafka Connect jars")
    say(f"fetching {', '.join(a for _, a, _ in dependencies)} from Maven Central (first run)…")
    shutil.rmtree(lib, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pom.xml").write_text(_pom(folder.name, dependencies))
    result = subprocess.run(
        [*maven_command(mvn, repo), *options],
        cwd=folder, capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if result.returncode != 0:
        output = last_lines((result.stdout + result.stderr).splitlines())
        raise BrokerError(f"Maven could not fetch the jars (in {folder}):\n{output}")
    problems = jar_checksum_problems(lib, repo)
    if problems:
        shutil.rmtree(lib, ignore_errors=True)
        raise BrokerError("the fetched jars do not match Maven Central's:\n" + "\n".join(problems))
    done.touch()
    return lib


def _pom(name: str, dependencies: list[tuple[str, str, str]]) -> str:
    listed = "".join(
        f"<dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
        f"<version>{version}</version></dependency>\n"
        for group, artifact, version in dependencies
    )
    return f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>provledger.bench</groupId>
  <artifactId>{name}</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
{listed}  </dependencies>
</project>
"""


def envelope(value: bytes) -> bytes:
    """A structured-mode CloudEvent as the record JsonConverter reads with schemas.enable=true:
    the row's columns as a struct with its schema; ``data`` stays JSON text (its shape varies
    by type), named io.debezium.data.Json so the sink binds it to jsonb, ``time`` named
    ZonedTimestamp so it binds to timestamptz."""
    event = json.loads(value)
    payload = {
        "source": event["source"],
        "id": event["id"],
        "type": event["type"],
        "time": event.get("time"),
        "subject": event.get("subject"),
        "data": json.dumps(event.get("data"), separators=(",", ":")),
    }
    return json.dumps({"schema": _SCHEMA, "payload": payload}, separators=(",", ":")).encode()


def _field(name: str, optional: bool = False, logical: str | None = None) -> dict:
    field = {"field": name, "type": "string", "optional": optional}
    return field | ({"name": logical} if logical else {})


_SCHEMA = {
    "type": "struct",
    "name": "provledger.Event",
    "optional": False,
    "fields": [
        _field("source"),
        _field("id"),
        _field("type"),
        _field("time", True, "io.debezium.time.ZonedTimestamp"),
        _field("subject", True),
        _field("data", True, "io.debezium.data.Json"),
    ],
}


def write_configs(
    folder: Path, name: str, bootstrap: str, topic: str, jdbc_url: str, plugins: Path, tasks: int
) -> list[Path]:
    """The worker's, the connector's and log4j2's properties files, in ``folder``; the worker's
    REST API on a free port."""
    worker = {
        "bootstrap.servers": bootstrap,
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "true",
        "offset.storage.file.filename": str(folder / "connect.offsets"),
        "plugin.path": str(plugins),
        "listeners": f"http://127.0.0.1:{free_port()}",
        # Every plugin here has ServiceLoader manifests: no scan of each class at start-up.
        "plugin.discovery": "service_load",
    }
    connector = {
        "name": name,
        "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector",
        "tasks.max": str(tasks),
        "topics": topic,
        "connection.url": jdbc_url,
        "connection.username": "bench",
        "connection.password": "bench",
        # Dedup on (source, id), as the hand-written peer does: INSERT … ON CONFLICT.
        "insert.mode": "upsert",
        "primary.key.mode": "record_value",
        "primary.key.fields": "source,id",
        "collection.name.format": "events",
        "schema.evolution": "none",
    }
    log4j = {
        "rootLogger.level": "WARN",
        "rootLogger.appenderRef.file.ref": "file",
        "appender.file.type": "File",
        "appender.file.name": "file",
        "appender.file.fileName": str(folder / "connect.log"),
        "appender.file.layout.type": "PatternLayout",
        "appender.file.layout.pattern": "%d %p %c: %m%n",
    }
    paths = []
    for name, settings in (("worker", worker), ("connector", connector), ("log4j2", log4j)):
        path = folder / f"{name}.properties"
        path.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
        paths.append(path)
    return paths


def start(folder: Path, lib: Path, worker: Path, connector: Path, log4j: Path) -> subprocess.Popen:
    """Connect's standalone worker (connect-standalone.sh's main class) in a JVM of its own."""
    java = require("java", "install a Java runtime (17+) for Kafka Connect")
    out = (folder / "connect.out").open("wb")
    return subprocess.Popen(
        [java, "-Xms256m", "-Xmx1g", f"-Dlog4j2.configurationFile={log4j}",
         "-cp", f"{lib}/*", "org.apache.kafka.connect.cli.ConnectStandalone",
         str(worker), str(connector)],
        stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
