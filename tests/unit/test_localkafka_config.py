"""The pure parts of the local Kafka broker: rendered configs, paths, status of nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from provenance_ledger.ledger import (
    localkafka,
    localkafka_cluster,
    localkafka_config,
    localkafka_jars,
)
from provenance_ledger.ledger.settings import Settings

# The broker's own topics, whose replication and in-sync minimum are set apart from the default.
INTERNAL_REPLICATION = (
    "offsets.topic.replication.factor",
    "transaction.state.log.replication.factor",
    "share.coordinator.state.topic.replication.factor",
)
INTERNAL_MIN_ISR = ("transaction.state.log.min.isr", "share.coordinator.state.topic.min.isr")


def _parse(properties: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in properties.splitlines() if line and line[0] != "#")
    return {key: value for key, value in pairs}


def test_server_properties_single_combined_node_on_loopback() -> None:
    props = _parse(localkafka_config.render_server_properties(19092, Path("/data/kraft")))
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    assert props["listener.security.protocol.map"] == "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
    assert props["log.dirs"] == "/data/kraft"


def test_server_properties_fit_one_small_node_and_keep_everything() -> None:
    props = _parse(localkafka_config.render_server_properties(9092, Path("/d")))
    for key in (*INTERNAL_REPLICATION, *INTERNAL_MIN_ISR, "offsets.topic.num.partitions"):
        assert props[key] == "1", key
    assert props["num.partitions"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["log.cleaner.dedupe.buffer.size"] == "2097152"
    _keeps_everything(props)


def _keeps_everything(props: dict[str, str]) -> None:
    # The ledger creates its topic with the configs it needs; producers must not.
    assert props["auto.create.topics.enable"] == "false"
    assert props["log.retention.ms"] == "-1"


@pytest.mark.parametrize("port", [0, 65535, 70000])
def test_port_must_leave_room_for_the_controller(port: int) -> None:
    with pytest.raises(ValueError, match="65534"):
        localkafka_config.render_server_properties(port, Path("/d"))


def test_cluster_nodes_share_three_voters_on_their_own_ports() -> None:
    nodes = [
        _parse(localkafka_config.render_cluster_node_properties(n, 29092, Path(f"/d/node-{n}")))
        for n in (1, 2, 3)
    ]
    voters = "1@127.0.0.1:29095,2@127.0.0.1:29096,3@127.0.0.1:29097"
    for n, props in enumerate(nodes, start=1):
        assert props["node.id"] == str(n)
        assert props["process.roles"] == "broker,controller"
        assert props["controller.quorum.voters"] == voters
        # A static quorum: the dynamic one's bootstrap key would make the format tool differ.
        assert "controller.quorum.bootstrap.servers" not in props
        assert props["log.dirs"] == f"/d/node-{n}"
    assert [props["listeners"] for props in nodes] == [
        f"PLAINTEXT://127.0.0.1:{29091 + n},CONTROLLER://127.0.0.1:{29094 + n}" for n in (1, 2, 3)
    ]


def test_cluster_replicates_everything_thrice_and_acks_at_two() -> None:
    props = _parse(localkafka_config.render_cluster_node_properties(1, 29092, Path("/d")))
    for key in ("default.replication.factor", *INTERNAL_REPLICATION):
        assert props[key] == "3", key
    for key in ("min.insync.replicas", *INTERNAL_MIN_ISR):
        assert props[key] == "2", key
    _keeps_everything(props)


@pytest.mark.parametrize("port", [0, 65531, 70000])
def test_cluster_ports_must_fit_six_consecutive(port: int) -> None:
    with pytest.raises(ValueError, match="65530"):
        localkafka_config.cluster_ports(port)


def test_cluster_status_reports_each_node_down_despite_stale_pids(tmp_path: Path) -> None:
    for n in (1, 2, 3):
        home = localkafka_config.node_dir(tmp_path, n)
        home.mkdir()
        (home / "server.properties").write_text(
            localkafka_config.render_cluster_node_properties(n, 29092, home / "kraft")
        )
        (home / "broker.pid").write_text("999999999\n")
    st = localkafka_cluster.status(tmp_path)
    assert not st.running
    assert [(node.node, node.running, node.pid) for node in st.nodes] == [
        (1, False, None),
        (2, False, None),
        (3, False, None),
    ]
    assert st.bootstrap == "127.0.0.1:29092,127.0.0.1:29093,127.0.0.1:29094"


def test_a_data_dir_holds_one_broker_or_one_cluster(tmp_path: Path) -> None:
    single, cluster = tmp_path / "single", tmp_path / "cluster"
    single.mkdir()
    (single / "server.properties").write_text(
        localkafka_config.render_server_properties(19092, single / "kraft")
    )
    localkafka_config.node_dir(cluster, 1).mkdir(parents=True)
    with pytest.raises(localkafka.BrokerError, match="single broker"):
        localkafka_cluster.start(29092, single)
    with pytest.raises(localkafka.BrokerError, match="--brokers 3"):
        localkafka.start(19092, cluster)


def test_pom_pins_kafka_and_the_log4j_binding() -> None:
    pom = localkafka_jars.render_pom()
    assert "<packaging>pom</packaging>" in pom
    assert f"<artifactId>kafka_2.13</artifactId>\n      <version>{localkafka.KAFKA_VERSION}<" in pom
    log4j = localkafka_config.LOG4J_VERSION
    assert f"log4j-slf4j-impl</artifactId>\n      <version>{log4j}<" in pom


def test_log4j2_config_logs_to_the_given_file_only() -> None:
    config = _parse(localkafka_config.render_log4j2_properties(Path("/data/broker.log")))
    config = {key.strip(): value.strip() for key, value in config.items()}
    assert config["appender.file.fileName"] == "/data/broker.log"
    assert config["rootLogger.appenderRef.file.ref"] == "file"
    assert not any(value == "Console" for value in config.values())


def test_directories_follow_the_settings(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"PROVLEDGER_CACHE_DIR": str(tmp_path / "cache"), "PROVLEDGER_KAFKA_DATA_DIR": "data"}
    ).local_kafka
    assert localkafka_config.cache_dir(settings.cache_dir) == tmp_path / "cache/kafka-4.1.1"
    assert localkafka.status(settings.data_dir).data_dir == Path("data").absolute()


def test_directories_default_under_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert localkafka_config.cache_dir() == tmp_path / ".cache/provledger/kafka-4.1.1"
    assert localkafka.status().data_dir == tmp_path / ".local/share/provledger/kafka"


def test_status_of_a_never_started_dir(tmp_path: Path) -> None:
    st = localkafka.status(tmp_path)
    assert st == localkafka.BrokerStatus(
        running=False,
        pid=None,
        bootstrap="127.0.0.1:9092",
        data_dir=tmp_path,
        version=localkafka.KAFKA_VERSION,
    )


def test_status_ignores_a_stale_pid_file(tmp_path: Path) -> None:
    (tmp_path / "server.properties").write_text(
        localkafka_config.render_server_properties(19092, tmp_path / "kraft")
    )
    (tmp_path / "broker.pid").write_text("999999999\n")
    st = localkafka.status(tmp_path)
    assert not st.running and st.pid is None
    assert st.bootstrap == "127.0.0.1:19092"


def _cmdline(*args: str) -> bytes:
    return b"".join(arg.encode() + b"\0" for arg in args)


def test_only_kafka_started_with_this_data_dirs_config_is_our_broker(tmp_path: Path) -> None:
    ours = str(tmp_path / "server.properties")
    java = ("/usr/bin/java", "-Xmx512m", "-cp", "/lib/*")
    assert localkafka.is_our_broker(_cmdline(*java, "kafka.Kafka", ours), tmp_path)
    # Another broker (another data dir), or anything that merely mentions kafka.Kafka.
    other = str(tmp_path / "elsewhere" / "server.properties")
    assert not localkafka.is_our_broker(_cmdline(*java, "kafka.Kafka", other), tmp_path)
    assert not localkafka.is_our_broker(_cmdline("sleep", "600", "kafka.Kafka"), tmp_path)
    assert not localkafka.is_our_broker(_cmdline("grep", "kafka.Kafka", ours), tmp_path)
    assert not localkafka.is_our_broker(_cmdline("vim", ours), tmp_path)
    assert not localkafka.is_our_broker(b"", tmp_path)


def test_maven_fetch_enforces_checksums_in_a_private_repository(tmp_path: Path) -> None:
    command = localkafka_jars.maven_command("/usr/bin/mvn", tmp_path / "m2")
    assert command[0] == "/usr/bin/mvn"
    assert "--strict-checksums" in command
    assert f"-Dmaven.repo.local={tmp_path / 'm2'}" in command
    assert f"{localkafka_jars.MAVEN_DEPENDENCY_PLUGIN}:copy-dependencies" in command


def _repo_jar(repo: Path, name: str, content: bytes, sha1: str | None) -> None:
    folder = repo / "org" / "example" / name.removesuffix(".jar")
    folder.mkdir(parents=True)
    (folder / name).write_bytes(content)
    if sha1 is not None:
        (folder / f"{name}.sha1").write_text(f"{sha1}  {name}\n")


def test_fetched_jars_are_checked_against_the_repositorys_sha1(tmp_path: Path) -> None:
    import hashlib

    lib, repo = tmp_path / "lib", tmp_path / "m2"
    lib.mkdir()
    good, bad = b"good jar", b"tampered jar"
    _repo_jar(repo, "a-1.jar", good, hashlib.sha1(good).hexdigest())
    _repo_jar(repo, "b-1.jar", good, hashlib.sha1(good).hexdigest())
    _repo_jar(repo, "c-1.jar", good, None)
    (lib / "a-1.jar").write_bytes(good)
    assert localkafka_jars.jar_checksum_problems(lib, repo) == []
    (lib / "b-1.jar").write_bytes(bad)
    (lib / "c-1.jar").write_bytes(good)
    (lib / "d-1.jar").write_bytes(good)
    problems = localkafka_jars.jar_checksum_problems(lib, repo)
    assert [p.split(":")[0] for p in problems] == ["b-1.jar", "c-1.jar", "d-1.jar"]
    assert "sha1" in problems[0] and "no checksum" in problems[1]


def test_an_empty_lib_is_a_failed_fetch(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    assert localkafka_jars.jar_checksum_problems(tmp_path / "lib", tmp_path / "m2") != []
