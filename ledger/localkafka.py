"""A real single-node Kafka broker (KRaft, combined broker+controller) run from Maven Central
jars, for machines without Docker. Needs Java 17+ always and Maven once (to fetch the jars).

This module starts, watches and stops the broker process; its versions, files and config are
in ledger/localkafka_config.py, the jar fetch in ledger/localkafka_jars.py.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from provenance_ledger.ledger.localkafka_config import (
    CLUSTER_BROKERS,
    DEFAULT_PORT,
    HOST,
    JVM_OPTS,
    KAFKA_VERSION,
    BrokerError,
    cache_dir,
    check_port,
    configured_port,
    data_path,
    is_cluster,
    last_lines,
    locked,
    log4j_opts,
    require,
    write_config,
)
from provenance_ledger.ledger.localkafka_jars import ensure_jars

# What callers of start/stop/status also need.
__all__ = [
    "DEFAULT_PORT",
    "KAFKA_VERSION",
    "BrokerError",
    "BrokerInfo",
    "BrokerStatus",
    "is_our_broker",
    "start",
    "status",
    "stop",
]

Progress = Callable[[str], None]
# Brokers launched by this process (any other child is not trusted to be one).
_launched: set[int] = set()


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
    data = data_path(data_dir)
    say = on_progress or (lambda _message: None)
    check_port(port)
    data.mkdir(parents=True, exist_ok=True)
    with locked(data / ".lock"):
        if is_cluster(data):
            raise BrokerError(
                f"{data} holds a {CLUSTER_BROKERS}-broker cluster: start it with "
                f"`provledger kafka start --brokers {CLUSTER_BROKERS}`, or use another --data-dir"
            )
        pid = running_pid(data)
        if pid is not None:
            running_port = configured_port(data)
            if running_port != port:
                raise BrokerError(
                    f"a broker for {data} is already running on port {running_port} "
                    f"(pid {pid}); stop it first to use port {port}"
                )
            if answers(port):
                return _info(pid, port, data, already_running=True)
            say(f"waiting for the broker already starting on {HOST}:{port}…")
        else:
            java = require(
                "java",
                "install Java 17+ to run a local Kafka "
                "(e.g. apt-get install openjdk-17-jre-headless)",
            )
            for busy in (port, port + 1):
                if accepts(busy):
                    raise BrokerError(f"port {busy} on {HOST} is already in use by another process")
            lib = ensure_jars(say, cache_dir(cache_root))
            write_config(data, port)
            _ensure_formatted(java, lib, data, say)
            say(f"starting Kafka {KAFKA_VERSION} on {HOST}:{port}…")
            pid = launch(java, lib, data)
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
    data = data_path(data_dir)
    if not data.is_dir():
        return False
    with locked(data / ".lock"):
        pid = running_pid(data)
        if pid is not None:
            _terminate(pid, data, timeout)
        (data / "broker.pid").unlink(missing_ok=True)
        return pid is not None


def status(data_dir: Path | str | None = None) -> BrokerStatus:
    data = data_path(data_dir)
    pid = running_pid(data)
    return BrokerStatus(
        running=pid is not None,
        pid=pid,
        bootstrap=f"{HOST}:{configured_port(data)}",
        data_dir=data,
        version=KAFKA_VERSION,
    )


def _info(pid: int, port: int, data: Path, *, already_running: bool) -> BrokerInfo:
    return BrokerInfo(pid, port, f"{HOST}:{port}", data, KAFKA_VERSION, already_running)


def _ensure_formatted(java: str, lib: Path, data: Path, say: Progress) -> None:
    if (data / "kraft" / "meta.properties").exists():
        return
    say(f"formatting Kafka storage in {data}…")
    id_file = data / "cluster.id"
    if not id_file.exists():
        id_file.write_text(storage_tool(java, lib, data, "random-uuid").strip() + "\n")
    cluster_id = id_file.read_text().strip()
    storage_tool(java, lib, data, "format", "--standalone", "-t", cluster_id,
                  "-c", str(data / "server.properties"))  # fmt: skip


def storage_tool(java: str, lib: Path, data: Path, *args: str) -> str:
    result = subprocess.run(
        [java, *log4j_opts(data), "-cp", f"{lib}/*", "kafka.tools.StorageTool", *args],
        capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if result.returncode != 0:
        output = last_lines((result.stdout + result.stderr).splitlines())
        raise BrokerError(f"kafka StorageTool {args[0]} failed:\n{output}")
    return result.stdout


def launch(java: str, lib: Path, data: Path) -> int:
    with (data / "broker.out").open("ab") as out:
        process = subprocess.Popen(
            [java, *JVM_OPTS, *log4j_opts(data), "-cp", f"{lib}/*", "kafka.Kafka",
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
    while not answers(port):
        if not alive(pid, data):
            raise BrokerError(f"the Kafka broker exited during start-up.\n{log_tail(data)}")
        if time.monotonic() > deadline:
            raise BrokerError(
                f"the Kafka broker did not answer on {HOST}:{port} within {timeout:g} s "
                f"and was stopped.\n{log_tail(data)}"
            )
        time.sleep(0.2)


def accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def answers(port: int, brokers: int = 1) -> bool:
    """True once the broker answers a metadata request that lists ``brokers`` brokers."""
    # Probe TCP first: kafka-python leaks its IO thread whenever bootstrap fails.
    if not accepts(port):
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
        return len(admin.describe_cluster()["brokers"]) >= brokers
    except KafkaError:
        return False
    finally:
        admin.close()


def running_pid(data: Path) -> int | None:
    try:
        pid = int((data / "broker.pid").read_text())
    except (OSError, ValueError):
        return None
    return pid if alive(pid, data) else None


def is_our_broker(cmdline: bytes, data: Path) -> bool:
    """Whether a /proc cmdline is the broker started for ``data``: kafka.Kafka run with this
    data dir's server.properties (a pid file may name a recycled pid, or any other Kafka)."""
    args = [arg for arg in cmdline.split(b"\0") if arg]
    if not args or os.path.basename(args[0]) != b"java" or b"kafka.Kafka" not in args:
        return False
    main = args.index(b"kafka.Kafka")
    return args[main + 1 : main + 2] == [os.fsencode(data / "server.properties")]


def alive(pid: int, data: Path) -> bool:
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
            if not alive(pid, data):
                return
            time.sleep(0.1)
    raise BrokerError(f"the Kafka broker (pid {pid}) survived SIGKILL")


def log_tail(data: Path) -> str:
    parts = []
    for name in ("broker.out", "broker.log"):
        path = data / name
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        if lines:
            parts.append(f"--- last lines of {path}:\n{last_lines(lines)}")
    return "\n".join(parts) or f"(no broker output in {data})"
