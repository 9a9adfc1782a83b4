"""compose.yaml cannot be run here (no Docker engine), so its shape is checked instead."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def load() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_kafka_is_the_pinned_single_node_kraft_image():
    kafka = load()["services"]["kafka"]
    assert kafka["image"] == "apache/kafka:4.1.1"
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_LOG_RETENTION_MS"] == "-1"
    assert "healthcheck" in kafka


def test_ledger_waits_for_a_healthy_broker_and_points_at_it():
    compose = load()
    ledger = compose["services"]["ledger"]
    assert ledger["build"] == "."
    assert ledger["depends_on"]["kafka"]["condition"] == "service_healthy"
    env = ledger["environment"]
    advertised = compose["services"]["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert advertised.endswith(env["PROVLEDGER_KAFKA_BOOTSTRAP"])
    assert env["PROVLEDGER_DB"].startswith("/data/")
    assert "healthcheck" in ledger
    assert ledger["command"][:2] == ["provledger", "serve"]


def test_the_image_the_ledger_builds_copies_every_package():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("producers", "ledger", "query", "schemas"):
        assert f"COPY {package} {package}" in dockerfile
