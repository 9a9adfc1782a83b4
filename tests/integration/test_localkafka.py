"""The local jar-based Kafka broker, for real: a JVM on free ports with a throwaway data dir
(never the default 9092 broker that other work may be using)."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType

from provenance_ledger.ledger import localkafka
from tests.support.waiting import wait_until

pytestmark = pytest.mark.kafka

if shutil.which("java") is None and not os.environ.get("CI"):
    pytest.skip("no Java: the local Kafka broker cannot run here", allow_module_level=True)


def _free_port_pair() -> int:
    """A port p from 19092 up with p+1 free too (broker and controller). Below the ephemeral
    range on purpose: probing an unused ephemeral port can connect a socket to itself."""
    for port in range(19092, 19292, 2):
        with socket.socket() as broker, socket.socket() as controller:
            try:
                broker.bind(("127.0.0.1", port))
                controller.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port pair in 19092..19291")


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "kafka"
    yield path
    localkafka.stop(path)  # never leave a JVM behind, whatever the test did


def test_start_status_produce_consume_stop(data_dir: Path) -> None:
    port = _free_port_pair()
    info = localkafka.start(port=port, data_dir=data_dir, timeout=90)
    assert info.bootstrap == f"127.0.0.1:{port}"
    assert info.version == localkafka.KAFKA_VERSION
    assert not info.already_running

    st = localkafka.status(data_dir)
    assert st.running and st.pid == info.pid and st.bootstrap == info.bootstrap
    assert (data_dir / "cluster.id").read_text().strip()
    assert "Kafka Server started" in (data_dir / "broker.log").read_text()

    again = localkafka.start(port=port, data_dir=data_dir, timeout=90)
    assert again.already_running and again.pid == info.pid

    topic = f"localkafka-{uuid.uuid4().hex}"
    # Topics are not auto-created (the ledger creates its own, with the configs it needs).
    admin = KafkaAdminClient(bootstrap_servers=info.bootstrap)
    try:
        assert (
            admin.describe_configs(
                [
                    ConfigResource(
                        ConfigResourceType.BROKER, "1", configs={"auto.create.topics.enable": None}
                    )
                ],
                config_filter="all",
            )["broker"]["1"]["auto.create.topics.enable"]["value"]
            == "false"
        )
        admin.create_topics({topic: {"num_partitions": 1}})
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=info.bootstrap)
    try:
        producer.send(topic, b"hello ledger").get(timeout=30)
    finally:
        producer.close()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=info.bootstrap,
        group_id="localkafka-test",
        auto_offset_reset="earliest",
        consumer_timeout_ms=30_000,
    )
    try:
        received = next(consumer, None)
    finally:
        consumer.close()
    assert received is not None and received.value == b"hello ledger"

    assert localkafka.stop(data_dir) is True
    st = localkafka.status(data_dir)
    assert not st.running and st.pid is None
    assert not (data_dir / "broker.pid").exists()
    assert localkafka.stop(data_dir) is False


def test_start_times_out_with_log_tail_and_stops_the_broker(data_dir: Path) -> None:
    port = _free_port_pair()
    with pytest.raises(localkafka.BrokerError, match="did not answer") as raised:
        localkafka.start(port=port, data_dir=data_dir, timeout=0.1)
    assert "--- last lines of" in str(raised.value)
    assert not localkafka.status(data_dir).running


def test_start_refuses_a_port_taken_by_another_process(data_dir: Path) -> None:
    port = _free_port_pair()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(localkafka.BrokerError, match=f"port {port} .* in use"):
            localkafka.start(port=port, data_dir=data_dir)


def test_stop_never_signals_a_process_that_is_not_this_data_dirs_broker(tmp_path: Path) -> None:
    import subprocess
    import sys

    data = tmp_path / "kafka"
    data.mkdir()
    other = tmp_path / "other" / "server.properties"
    # Decoys a stale pid file could name: anything mentioning kafka.Kafka, even with our config,
    # and a "java" (the last one: Python under that name) running another data dir's broker.
    # Each is Python sleeping, whatever its arguments: `sleep 120 kafka.Kafka …` exited at
    # once on its invalid arguments, and was then taken for a signalled decoy.
    sleeping = "import time; time.sleep(120)"
    decoys = [
        subprocess.Popen([sys.executable, "-c", sleeping, "kafka.Kafka"]),
        subprocess.Popen(
            [sys.executable, "-c", sleeping, "kafka.Kafka", str(data / "server.properties")]
        ),
        subprocess.Popen(
            ["java", "-c", sleeping, "kafka.Kafka", str(other)], executable=sys.executable
        ),
    ]
    try:
        for decoy in decoys:
            # A decoy only tests something once it runs with its own command line.
            cmdline = Path(f"/proc/{decoy.pid}/cmdline")
            wait_until(
                lambda path=cmdline: b"kafka.Kafka" in path.read_bytes(),
                30,
                f"decoy {decoy.pid} to run as kafka.Kafka",
            )
            assert decoy.poll() is None, "a decoy exited by itself"
            (data / "broker.pid").write_text(f"{decoy.pid}\n")
            assert localkafka.status(data).running is False
            assert localkafka.stop(data, timeout=2) is False
            assert decoy.poll() is None, "a decoy was signalled"
    finally:
        for decoy in decoys:
            decoy.kill()
            decoy.wait()
