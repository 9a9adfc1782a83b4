"""Shared fixtures: a real Kafka broker, found in the order ARCHITECTURE.md gives.

1. ``PROVLEDGER_KAFKA_BOOTSTRAP`` if set;
2. a Docker engine through testcontainers (``apache/kafka``) if one answers;
3. the local jar broker (``provledger kafka start``), started here if not running.

With ``CI`` set, finding no broker fails the tests that need one; it never skips them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from provenance_ledger.ledger.settings import Settings
from provenance_ledger.schemas import cdevents
from tests.support.provstory import story_ledgers

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
KAFKA_IMAGE = "apache/kafka:4.1.1"
CDEVENTS_SCHEMAS = SHARED_DATA / "cdevents-v0.5.1" / "schemas"

# Validate CDEvents against their official schemas wherever the shared data is present: here,
# and in the CLI processes the tests start (they read the setting).
if CDEVENTS_SCHEMAS.is_dir():
    os.environ.setdefault("PROVLEDGER_CDEVENTS_SCHEMAS", str(CDEVENTS_SCHEMAS))
    cdevents.use_schemas(CDEVENTS_SCHEMAS)


def _no_broker(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"no Kafka broker for the tests (CI is set, so this fails): {reason}")
    pytest.skip(f"no Kafka broker: {reason}")


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


def _container_broker() -> Iterator[str]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    container = (
        DockerContainer(KAFKA_IMAGE)
        .with_bind_ports(9092, 29092)
        .with_env("KAFKA_NODE_ID", "1")
        .with_env("KAFKA_PROCESS_ROLES", "broker,controller")
        .with_env("KAFKA_LISTENERS", "PLAINTEXT://:9092,CONTROLLER://:9093")
        .with_env("KAFKA_ADVERTISED_LISTENERS", "PLAINTEXT://127.0.0.1:29092")
        .with_env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
        .with_env("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
        .with_env("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
    )
    with container:
        wait_for_logs(container, "Kafka Server started", timeout=120)
        yield "127.0.0.1:29092"


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    from_env = os.environ.get("PROVLEDGER_KAFKA_BOOTSTRAP")
    if from_env:
        yield from_env
        return
    if _docker_answers():
        yield from _container_broker()
        return
    from provenance_ledger.ledger import localkafka

    try:
        already = localkafka.status()
        if already.running:
            yield already.bootstrap
            return
        info = localkafka.start()
    except localkafka.BrokerError as exc:
        _no_broker(str(exc))
        return
    try:
        yield info.bootstrap
    finally:
        localkafka.stop()


@contextmanager
def _topics(kafka_bootstrap: str) -> Iterator[Callable[..., str]]:
    """Makes fresh topics, and deletes them at the end."""
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, request_timeout_ms=15000)
    made: list[str] = []

    def make(partitions: int = 1) -> str:
        name = f"test.{uuid.uuid4().hex[:12]}"
        admin.create_topics([NewTopic(name, partitions, 1)])
        made.append(name)
        return name

    yield make
    try:
        admin.delete_topics(made)
    finally:
        admin.close()


def _settings(kafka_bootstrap: str, topic: str, folder: Path) -> Settings:
    return replace(
        Settings(),
        kafka_bootstrap=kafka_bootstrap,
        bootstrap_from_env=True,
        topic=topic,
        db_path=folder / "ledger.duckdb",
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        batch_max_latency_s=0.2,
    )


@pytest.fixture
def topic_factory(kafka_bootstrap: str) -> Iterator[Callable[..., str]]:
    """Makes fresh topics so tests never see each other's events."""
    with _topics(kafka_bootstrap) as make:
        yield make


@pytest.fixture
def topic(topic_factory: Callable[..., str]) -> str:
    return topic_factory()


@pytest.fixture
def settings(kafka_bootstrap: str, topic: str, tmp_path: Path) -> Settings:
    """Settings for one test: its own topic, consumer group and DuckDB file."""
    return _settings(kafka_bootstrap, topic, tmp_path)


@pytest.fixture(scope="module")
def module_settings(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """Settings shared by the tests of one module (for a server they all only read from)."""
    with _topics(kafka_bootstrap) as make:
        yield _settings(kafka_bootstrap, make(), tmp_path_factory.mktemp("module"))


@pytest.fixture(scope="session")
def cdevents_dir() -> Path:
    folder = SHARED_DATA / "cdevents-v0.5.1"
    if not folder.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{folder} is missing (CI is set, so this fails)")
        pytest.skip(f"{folder} is absent: the shared test data is not beside this checkout")
    return folder


@pytest.fixture
def story_ledger(tmp_path: Path) -> Iterator[Callable]:
    """Writes each story it is given (tests/support/provstory.py) into a ledger file of its
    own and returns the open ledger; all are closed after the test."""
    with story_ledgers(tmp_path) as write:
        yield write
