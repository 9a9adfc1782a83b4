"""compose.yaml cannot be run here (no Docker engine), so its shape is checked instead: three
Kafka nodes set as `provledger kafka start --brokers 3` sets its own, two ledger replicas that
share keys but not files or groups, and a proxy that takes a degraded replica out."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from provenance_ledger.ledger.localkafka_config import (
    CLUSTER_BROKERS,
    CLUSTER_MIN_ISR,
    render_cluster_node_properties,
)
from provenance_ledger.ledger.settings import VARIABLES

ROOT = Path(__file__).resolve().parents[2]
KAFKA_NODES = ("kafka-1", "kafka-2", "kafka-3")
LEDGERS = ("ledger-1", "ledger-2")
# What differs by host or node between the laptop cluster and the compose one.
PER_NODE_PROPERTIES = {"node.id", "controller.quorum.voters", "listeners", "log.dirs"}


def load() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def services() -> dict:
    return load()["services"]


def kafka_properties(env: dict) -> dict[str, str]:
    """The broker properties the apache/kafka image makes of KAFKA_* variables (``_`` is
    ``.``); CLUSTER_ID and KAFKA_HEAP_OPTS are read by its start script, not properties."""
    return {
        name.removeprefix("KAFKA_").lower().replace("_", "."): str(value)
        for name, value in env.items()
        if name.startswith("KAFKA_") and name != "KAFKA_HEAP_OPTS"
    }


def haproxy_config() -> str:
    return load()["configs"]["haproxy"]["content"]


def test_three_pinned_kraft_nodes_share_a_cluster_id_and_one_quorum_of_three_voters():
    nodes = {name: services()[name] for name in KAFKA_NODES}
    envs = {name: node["environment"] for name, node in nodes.items()}
    assert {node["image"] for node in nodes.values()} == {"apache/kafka:4.1.1"}
    assert len(nodes) == CLUSTER_BROKERS
    assert len({env["CLUSTER_ID"] for env in envs.values()}) == 1
    assert {env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in envs.values()} == {
        "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"
    }
    for name, env in envs.items():
        node_id = env["KAFKA_NODE_ID"]
        assert f"{node_id}@{name}:9093" in env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert "healthcheck" in nodes[name]
    assert sorted(env["KAFKA_NODE_ID"] for env in envs.values()) == ["1", "2", "3"]


def test_each_node_keeps_its_log_in_its_own_volume():
    mounts = []
    for name in KAFKA_NODES:
        env = services()[name]["environment"]
        (volume,) = services()[name]["volumes"]
        source, target = volume.split(":")
        assert target == env["KAFKA_LOG_DIRS"]
        mounts.append(source)
    assert len(set(mounts)) == len(KAFKA_NODES)
    assert set(mounts) <= set(load()["volumes"])


def test_nodes_replicate_every_topic_as_the_laptop_cluster_does():
    laptop = dict(
        line.split("=", 1)
        for line in render_cluster_node_properties(1, 29092, Path("/tmp/n")).splitlines()
        if line
    )
    expected = {key: value for key, value in laptop.items() if key not in PER_NODE_PROPERTIES}
    for name in KAFKA_NODES:
        properties = kafka_properties(services()[name]["environment"])
        assert {key: properties.get(key) for key in expected} == expected, name
    assert expected["default.replication.factor"] == str(CLUSTER_BROKERS)
    assert expected["min.insync.replicas"] == str(CLUSTER_MIN_ISR)
    assert expected["log.retention.ms"] == "-1"


def test_replicas_share_topic_and_keys_but_not_the_ledger_file_or_consumer_group():
    ledgers = {name: services()[name] for name in LEDGERS}
    envs = {name: ledger["environment"] for name, ledger in ledgers.items()}
    assert len({env["PROVLEDGER_GROUP"] for env in envs.values()}) == len(LEDGERS)
    volumes = {ledger["volumes"][0].split(":")[0] for ledger in ledgers.values()}
    assert len(volumes) == len(LEDGERS)
    assert volumes <= set(load()["volumes"])
    for ledger in ledgers.values():
        assert ledger["volumes"][0].endswith(":/data")
        assert ledger["env_file"] == "provledger.env"
        assert ledger["secrets"] == ["signing-key"]
        assert ledger["command"][:2] == ["provledger", "serve"]
        assert "healthcheck" in ledger
    shared = ("PROVLEDGER_TOPIC", "PROVLEDGER_KAFKA_BOOTSTRAP", "PROVLEDGER_SIGNING_KEY_FILE")
    for name in shared:
        assert len({env[name] for env in envs.values()}) == 1, name
    assert envs["ledger-1"]["PROVLEDGER_DB"].startswith("/data/")
    assert envs["ledger-1"]["PROVLEDGER_SIGNING_KEY_FILE"] == "/run/secrets/signing-key"
    assert load()["secrets"]["signing-key"]["file"] == "provledger-signing.key"


def test_replicas_bootstrap_from_every_healthy_node_and_create_a_fully_replicated_topic():
    for name in LEDGERS:
        ledger = services()[name]
        env = ledger["environment"]
        advertised = {
            services()[node]["environment"]["KAFKA_ADVERTISED_LISTENERS"].removeprefix(
                "PLAINTEXT://"
            )
            for node in KAFKA_NODES
        }
        assert set(env["PROVLEDGER_KAFKA_BOOTSTRAP"].split(",")) == advertised
        assert {
            node: dep["condition"] for node, dep in ledger["depends_on"].items()
        } == dict.fromkeys(KAFKA_NODES, "service_healthy")
        assert env["PROVLEDGER_TOPIC_REPLICATION"] == str(CLUSTER_BROKERS)
        # One partition: one order, so the replicas' Merkle heads agree (README).
        assert env["PROVLEDGER_TOPIC_PARTITIONS"] == "1"


def test_listening_on_all_interfaces_comes_with_tokens_from_outside_the_file():
    text = (ROOT / "compose.yaml").read_text()
    for name in LEDGERS:
        ledger = services()[name]
        assert ledger["command"][ledger["command"].index("--host") + 1] == "0.0.0.0"
        # Tokens (and the origin key) come from provledger.env, never from compose.yaml.
        for secret in ("PROVLEDGER_TOKEN_HASHES", "PROVLEDGER_ORIGIN_KEY", "PROVLEDGER_TOKEN"):
            assert secret not in ledger["environment"], secret
    assert not re.search(r"plg_[A-Za-z0-9_-]{20,}", text), "a plaintext token in compose.yaml"
    assert not re.search(r"\b[0-9a-f]{64}\b", text), "a token hash or key in compose.yaml"


def test_every_setting_compose_sets_is_one_the_code_reads():
    used = set(re.findall(r"PROVLEDGER_[A-Z_]+", (ROOT / "compose.yaml").read_text()))
    assert used, "compose.yaml sets no PROVLEDGER_* variable"
    assert sorted(used - set(VARIABLES)) == []


def test_one_address_in_front_checks_each_replica_on_healthz():
    proxy = services()["api"]
    assert proxy["image"].startswith("haproxy:")
    assert proxy["ports"] == ["127.0.0.1:8000:8000"]
    assert proxy["configs"][0]["target"] == "/usr/local/etc/haproxy/haproxy.cfg"
    config = haproxy_config()
    assert "option httpchk GET /healthz" in config
    # 503 (degraded) must fail the check, so only 200 passes.
    assert re.search(r"^\s*http-check expect status 200$", config, re.MULTILINE)
    servers = re.findall(r"^\s*server (\S+) (\S+):(\d+)", config, re.MULTILINE)
    assert sorted(name for name, _, _ in servers) == list(LEDGERS)
    for name, host, port in servers:
        assert host == name
        assert services()[name]["command"][-1] == port
    assert re.search(r"default-server check\b", config)
    assert "bind :8000" in config


def test_no_ledger_port_bypasses_the_proxy():
    for name in (*LEDGERS, *KAFKA_NODES):
        assert "ports" not in services()[name], name


def test_the_image_the_ledger_builds_copies_every_package():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("producers", "ledger", "query", "schemas"):
        assert f"COPY {package} {package}" in dockerfile
    assert {services()[name]["build"] for name in LEDGERS} == {"."}


def test_readme_says_how_to_make_the_files_compose_reads():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## High availability: replicas\n", 1)[1].split("\n## ", 1)[0]
    compose = load()
    assert services()[LEDGERS[0]]["env_file"] in section
    assert compose["secrets"]["signing-key"]["file"] in section
    for name in (*LEDGERS, "PROVLEDGER_TOKEN_HASHES", "PROVLEDGER_ORIGIN_KEY", "/healthz"):
        assert name in section, name
