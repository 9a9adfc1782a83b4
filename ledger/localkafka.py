"""A real single-node Kafka broker (KRaft, combined broker+controller) run from Maven Central
jars, for machines without Docker. Needs Java 17+ always and Maven once (to fetch the jars).

Layout: jars in ``$PROVLEDGER_CACHE_DIR`` (default ``~/.cache/provledger``) under
``kafka-<version>/lib``; everything else in the data dir (default
``~/.local/share/provledger/kafka``): server.properties, log4j2.properties, cluster.id,
broker.pid, broker.log (the broker's own log), broker.out (JVM stdout/stderr), kraft/ (topic data).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from provenance_ledger.ledger.settings import LocalKafkaSettings
from provenance_ledger.schemas.errors import LocalFailure

KAFKA_VERSION = "4.1.1"
# Kafka 4.1 logs through slf4j-api 1.7.x; without this binding the broker logs nothing at all.
LOG4J_VERSION = "2.24.3"
DEFAULT_PORT = 9092
HOST = "127.0.0.1"
MAVEN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

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

Progress = Callable[[str], None]
# Brokers launched by this process (any other child is not trusted to be one).
_launched: set[int] = set()


class BrokerError(RuntimeError, LocalFailure):
    """The local broker could not be fetched, started or stopped."""


@dataclass(frozen=True)
class BrokerInfo:
    pid: int
    port: int
    bootstrap: str
    data_dir: Path
    version: str
    already_running: bool


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap: str
    data_dir: Path
    version: str


def cache_dir(root: Path | None = None) -> Path:
    """Where this version's jars are kept, under ``root`` (the cache_dir setting)."""
    return (root or LocalKafkaSettings().cache_dir) / f"kafka-{KAFKA_VERSION}"


def _data_path(data_dir: Path | str | None) -> Path:
    """Absolute: the broker runs in its data dir and is recognised by its config's path."""
    return Path(os.path.abspath(data_dir or LocalKafkaSettings().data_dir))


def render_pom() -> str:
    """A throwaway pom whose only job is to let Maven resolve the broker's runtime classpath."""
    return f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>provledger.local</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>{KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{LOG4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
"""


def _check_port(port: int) -> None:
    if not 1 <= port <= 65534:
        raise ValueError(f"port must be in 1..65534 (the controller uses port+1), got {port}")


def render_server_properties(port: int, log_dir: Path) -> str:
    """server.properties for one combined broker+controller node on 127.0.0.1:port (broker)
    and port+1 (controller)."""
    _check_port(port)
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


def start(
    port: int = DEFAULT_PORT,
    data_dir: Path | str | None = None,
    timeout: float = 90,
    on_progress: Progress | None = None,
    cache_root: Path | None = None,
) -> BrokerInfo:
    """Start the broker (fetching jars into ``cache_root`` and formatting storage if needed)
    and return once it answers a metadata request. Returns at once if it is already running
    and answering. Unset directories are the settings' defaults (LocalKafkaSettings).

    `timeout` bounds the wait for the launched broker to answer, not the one-time jar fetch.
    """
    data = _data_path(data_dir)
    say = on_progress or (lambda _message: None)
    _check_port(port)
    data.mkdir(parents=True, exist_ok=True)
    with _locked(data / ".lock"):
        pid = _running_pid(data)
        if pid is not None:
            running_port = _configured_port(data)
            if running_port != port:
                raise BrokerError(
                    f"a broker for {data} is already running on port {running_port} "
                    f"(pid {pid}); stop it first to use port {port}"
                )
            if _answers(port):
                return _info(pid, port, data, already_running=True)
            say(f"waiting for the broker already starting on {HOST}:{port}…")
        else:
            java = _require(
                "java",
                "install Java 17+ to run a local Kafka "
                "(e.g. apt-get install openjdk-17-jre-headless)",
            )
            for busy in (port, port + 1):
                if _accepts(busy):
                    raise BrokerError(f"port {busy} on {HOST} is already in use by another process")
            lib = _ensure_jars(say, cache_dir(cache_root))
            _write_config(data, port)
            _ensure_formatted(java, lib, data, say)
            say(f"starting Kafka {KAFKA_VERSION} on {HOST}:{port}…")
            pid = _launch(java, lib, data)
        try:
            _wait_ready(pid, port, data, timeout)
        except BaseException:  # failed or Ctrl-C: leave no half-started broker behind
            _terminate(pid, data, 10)
            (data / "broker.pid").unlink(missing_ok=True)
            raise
        return _info(pid, port, data, already_running=False)


def stop(data_dir: Path | str | None = None, timeout: float = 30) -> bool:
    """Stop the broker: SIGTERM (a clean shutdown), SIGKILL after `timeout` seconds.
    Returns False if it was not running."""
    data = _data_path(data_dir)
    if not data.is_dir():
        return False
    with _locked(data / ".lock"):
        pid = _running_pid(data)
        if pid is not None:
            _terminate(pid, data, timeout)
        (data / "broker.pid").unlink(missing_ok=True)
        return pid is not None


def status(data_dir: Path | str | None = None) -> BrokerStatus:
    data = _data_path(data_dir)
    pid = _running_pid(data)
    return BrokerStatus(
        running=pid is not None,
        pid=pid,
        bootstrap=f"{HOST}:{_configured_port(data)}",
        data_dir=data,
        version=KAFKA_VERSION,
    )


def _info(pid: int, port: int, data: Path, *, already_running: bool) -> BrokerInfo:
    return BrokerInfo(pid, port, f"{HOST}:{port}", data, KAFKA_VERSION, already_running)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise concurrent start/stop (two terminals, parallel test runs) on one directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _require(program: str, hint: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise BrokerError(f"`{program}` not found on PATH: {hint}")
    return found


def _ensure_jars(say: Progress, home: Path) -> Path:
    lib, done = home / "lib", home / ".complete"
    with _locked(home.parent / f"kafka-{KAFKA_VERSION}.lock"):
        if done.exists():
            return lib
        mvn = _require(
            "mvn", "install Maven, needed once to fetch the Kafka jars (e.g. apt-get install maven)"
        )
        say(f"fetching Kafka {KAFKA_VERSION} jars from Maven Central (first run only)…")
        shutil.rmtree(lib, ignore_errors=True)  # whatever an interrupted fetch left behind
        home.mkdir(parents=True, exist_ok=True)
        (home / "pom.xml").write_text(render_pom())
        result = subprocess.run(
            maven_command(mvn, home / "m2"),
            cwd=home, capture_output=True, text=True, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if result.returncode != 0:
            output = _last_lines((result.stdout + result.stderr).splitlines())
            raise BrokerError(f"Maven could not fetch the Kafka jars (in {home}):\n{output}")
        problems = jar_checksum_problems(lib, home / "m2")
        if problems:
            shutil.rmtree(lib, ignore_errors=True)
            raise BrokerError(
                "the fetched Kafka jars do not match Maven Central's checksums:\n"
                + "\n".join(problems)
            )
        done.touch()
        return lib


def maven_command(mvn: str, repo: Path) -> list[str]:
    """Fetch the broker's runtime jars into lib/ with checksums enforced.

    --strict-checksums fails on a checksum that does not match (or is missing) instead of
    warning; a private local repository means every jar is downloaded, and so checked,
    rather than taken from a ~/.m2 that anything may have written to.
    """
    return [mvn, "-B", "-q", "--strict-checksums", f"-Dmaven.repo.local={repo}",
            f"{MAVEN_DEPENDENCY_PLUGIN}:copy-dependencies", "-DoutputDirectory=lib",
            "-DincludeScope=runtime", "-Dstyle.color=never"]  # fmt: skip


def jar_checksum_problems(lib: Path, repo: Path) -> list[str]:
    """Each jar in lib/ against the SHA-1 Maven downloaded beside it into the local
    repository: what copy-dependencies put in lib/ is what Central's checksums vouch for."""
    recorded = {path.name: path for path in repo.rglob("*.jar")}
    problems = []
    for jar in sorted(lib.glob("*.jar")):
        source = recorded.get(jar.name)
        checksum = source.with_name(source.name + ".sha1") if source else None
        if checksum is None or not checksum.is_file():
            problems.append(f"{jar.name}: no checksum from the repository")
            continue
        words = checksum.read_text().split()
        expected = words[0].lower() if words else ""
        actual = hashlib.sha1(jar.read_bytes(), usedforsecurity=False).hexdigest()
        if actual != expected:
            problems.append(f"{jar.name}: sha1 {actual}, the repository says {expected!r}")
    if not problems and not any(lib.glob("*.jar")):
        problems.append(f"no jars in {lib}")
    return problems


def _write_config(data: Path, port: int) -> None:
    (data / "server.properties").write_text(render_server_properties(port, data / "kraft"))
    (data / "log4j2.properties").write_text(render_log4j2_properties(data / "broker.log"))


def _ensure_formatted(java: str, lib: Path, data: Path, say: Progress) -> None:
    if (data / "kraft" / "meta.properties").exists():
        return
    say(f"formatting Kafka storage in {data}…")
    id_file = data / "cluster.id"
    if not id_file.exists():
        id_file.write_text(_storage_tool(java, lib, data, "random-uuid").strip() + "\n")
    cluster_id = id_file.read_text().strip()
    _storage_tool(java, lib, data, "format", "--standalone", "-t", cluster_id,
                  "-c", str(data / "server.properties"))  # fmt: skip


def _storage_tool(java: str, lib: Path, data: Path, *args: str) -> str:
    result = subprocess.run(
        [java, *_log4j_opts(data), "-cp", f"{lib}/*", "kafka.tools.StorageTool", *args],
        capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if result.returncode != 0:
        output = _last_lines((result.stdout + result.stderr).splitlines())
        raise BrokerError(f"kafka StorageTool {args[0]} failed:\n{output}")
    return result.stdout


def _log4j_opts(data: Path) -> list[str]:
    return [f"-Dlog4j2.configurationFile={data / 'log4j2.properties'}"]


def _launch(java: str, lib: Path, data: Path) -> int:
    with (data / "broker.out").open("ab") as out:
        process = subprocess.Popen(
            [java, *JVM_OPTS, *_log4j_opts(data), "-cp", f"{lib}/*", "kafka.Kafka",
             str(data / "server.properties")],
            cwd=data, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives us and our terminal's Ctrl-C
        )  # fmt: skip
    (data / "broker.pid").write_text(f"{process.pid}\n")
    _launched.add(process.pid)
    # Detached on purpose: nobody wait()s for it (_alive reaps it should it exit while we
    # run), so keep Popen's finaliser from warning that it is still running.
    process.returncode = 0
    return process.pid


def _wait_ready(pid: int, port: int, data: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not _answers(port):
        if not _alive(pid, data):
            raise BrokerError(f"the Kafka broker exited during start-up.\n{_log_tail(data)}")
        if time.monotonic() > deadline:
            raise BrokerError(
                f"the Kafka broker did not answer on {HOST}:{port} within {timeout:g} s "
                f"and was stopped.\n{_log_tail(data)}"
            )
        time.sleep(0.2)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _answers(port: int) -> bool:
    """True once the broker answers a metadata request."""
    # Probe TCP first: kafka-python leaks its IO thread whenever bootstrap fails.
    if not _accepts(port):
        return False
    from kafka import KafkaAdminClient  # lazy: 0.2 s of imports the CLI rarely needs
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=f"{HOST}:{port}",
            client_id="provledger-localkafka",
            bootstrap_timeout_ms=2000,
            request_timeout_ms=2000,
        )
    except KafkaError:
        return False
    try:
        return bool(admin.describe_cluster()["brokers"])
    except KafkaError:
        return False
    finally:
        admin.close()


def _running_pid(data: Path) -> int | None:
    try:
        pid = int((data / "broker.pid").read_text())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid, data) else None


def is_our_broker(cmdline: bytes, data: Path) -> bool:
    """Whether a /proc cmdline is the broker started for ``data``: kafka.Kafka run with this
    data dir's server.properties (a pid file may name a recycled pid, or any other Kafka)."""
    args = [arg for arg in cmdline.split(b"\0") if arg]
    if not args or os.path.basename(args[0]) != b"java" or b"kafka.Kafka" not in args:
        return False
    main = args.index(b"kafka.Kafka")
    return args[main + 1 : main + 2] == [os.fsencode(data / "server.properties")]


def _alive(pid: int, data: Path) -> bool:
    """True if `pid` is a live broker of `data` (not a zombie, not a recycled pid)."""
    if pid in _launched:
        try:
            # The broker this process launched: running unless this reaps it. Asking /proc
            # instead would race with execve() just after launch, when its cmdline is empty.
            return os.waitpid(pid, os.WNOHANG)[0] == 0
        except ChildProcessError:
            pass
    if Path("/proc/self").is_dir():
        try:
            return is_our_broker(Path(f"/proc/{pid}/cmdline").read_bytes(), data)
        except OSError:
            return False
    try:  # no /proc (macOS): trust the pid
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _terminate(pid: int, data: Path, timeout: float) -> None:
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(pid, data):
                return
            time.sleep(0.1)
    raise BrokerError(f"the Kafka broker (pid {pid}) survived SIGKILL")


def _configured_port(data: Path) -> int:
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


def _log_tail(data: Path) -> str:
    parts = []
    for name in ("broker.out", "broker.log"):
        path = data / name
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        if lines:
            parts.append(f"--- last lines of {path}:\n{_last_lines(lines)}")
    return "\n".join(parts) or f"(no broker output in {data})"


def _last_lines(lines: list[str], count: int = 30) -> str:
    return "\n".join(lines[-count:])
