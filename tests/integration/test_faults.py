"""Faults: a broker restart mid-stream, a DuckDB error, poison pills.

The broker restart uses a broker of its own (port 19192, its own data dir) so the shared one
on 9092 is never stopped.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient, NewTopic

from provenance_ledger.ledger import localkafka
from provenance_ledger.ledger.batch import Incoming
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.producers.envelope import build_event
from provenance_ledger.schemas.codec import KafkaRecord
from tests.support import eventmix
from tests.support.ledgerproc import ConsumerThread, duplicates, produce
from tests.support.waiting import wait_until

OWN_PORT = 19192


@pytest.fixture
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data = tmp_path_factory.mktemp("own-broker")
    try:
        info = localkafka.start(port=OWN_PORT, data_dir=data, timeout=120)
    except localkafka.BrokerError as exc:
        pytest.fail(f"could not start a broker of our own on {OWN_PORT}: {exc}")
    try:
        yield info.bootstrap, data
    finally:
        localkafka.stop(data_dir=data)


def test_the_consumer_rides_out_a_broker_restart(
    own_broker: tuple[str, Path], tmp_path: Path
) -> None:
    bootstrap, data = own_broker
    topic = f"test.{uuid.uuid4().hex[:12]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    admin.create_topics([NewTopic(topic, 2, 1)])
    admin.close()
    settings = replace(
        Settings(),
        kafka_bootstrap=bootstrap,
        topic=topic,
        db_path=tmp_path / "ledger.duckdb",
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        batch_max_records=200,
        batch_max_latency_s=0.2,
    )
    messages = list(eventmix.messages(6_000, fmt="avro", seed=3))
    ledger = Ledger.open(settings.db_path, migrate=True)
    try:
        consumer = ConsumerThread(ledger, settings)
        produce(bootstrap, topic, messages[:3_000])
        wait_until(lambda: ledger.counts()[0] >= 500, 60, "the stream to be under way")
        localkafka.stop(data_dir=data)  # mid-stream
        localkafka.start(port=OWN_PORT, data_dir=data, timeout=120)
        produce(bootstrap, topic, messages[3_000:])
        wait_until(lambda: ledger.counts()[0] >= 6_000, 180, "every event after the restart")
        assert consumer.consumer.status.running
        consumer.stop()
        assert ledger.counts() == (6_000, 0)
        assert duplicates(ledger) == 0
    finally:
        ledger.close()


def test_a_duckdb_error_stops_the_consumer_and_commits_nothing(settings: Settings) -> None:
    messages = list(eventmix.messages(400, fmt="json", seed=4))
    ledger = Ledger.open(settings.db_path, migrate=True)
    try:
        consumer = ConsumerThread(ledger, settings)
        produce(settings.kafka_bootstrap, settings.topic, messages[:200])
        wait_until(lambda: ledger.counts()[0] >= 200, 60, "the first 200 events")
        # A real DuckDB failure on the next insert into `reviews`.
        ledger.cursor().execute("DROP TABLE reviews")
        produce(settings.kafka_bootstrap, settings.topic, messages[200:])
        wait_until(lambda: not consumer.consumer.status.running, 60, "the consumer to stop")
        consumer.stop()
        error = consumer.consumer.status.last_error or ""
        assert "could not write a batch" in error
        assert "reviews" in error
        assert "Nothing of this batch was committed" in error
        assert ledger.counts() == (200, 0)
        assert ledger.committed_offsets(settings.topic) == {0: 200}
    finally:
        ledger.close()

    # Fixed (the table is back) and restarted: it resumes where the last batch ended.
    ledger = Ledger.open(settings.db_path, migrate=True)
    try:
        consumer = ConsumerThread(ledger, settings)
        wait_until(lambda: ledger.counts()[0] >= 400, 60, "the rest after the restart")
        consumer.stop()
        assert ledger.counts() == (400, 0)
        assert duplicates(ledger) == 0
        assert ledger.committed_offsets(settings.topic) == {0: 400}
    finally:
        ledger.close()


def test_poison_pills_become_dead_letters_and_ingestion_goes_on(settings: Settings) -> None:
    good = list(eventmix.messages(100, fmt="avro", seed=5))
    poison = [
        (None, [], b"\xff\xfe not json"),
        (None, [("content-type", b"application/cloudevents+json")], b'{"specversion": "1.0"}'),
        (None, [("content-type", b"application/avro"), ("ce_type", b"x")], b"\xc3\x01"),
    ]
    ledger = Ledger.open(settings.db_path, migrate=True)
    try:
        consumer = ConsumerThread(ledger, settings)
        produce(settings.kafka_bootstrap, settings.topic, [*good[:50], *poison, *good[50:]])
        wait_until(lambda: sum(ledger.counts()) >= 103, 60, "every record")
        consumer.stop()
        assert ledger.counts() == (100, 3)
        reasons = ledger.cursor().execute("SELECT reason FROM dead_letters").fetchall()
        assert len(reasons) == 3
    finally:
        ledger.close()


def test_an_unprojectable_event_is_stored_and_its_projection_dead_lettered(
    tmp_path: Path,
) -> None:
    # Valid JSON, a valid event, but 2**70 fits no BIGINT column: a poison pill for the
    # projection that must neither stop the consumer nor lose the event.
    huge = build_event(
        "change.authored",
        {"repo": "acme/shop", "commit": "a" * 40, "author": {"id": "x"}, "lines_added": 2**70},
        "ci/odd",
        event_id="odd-1",
    )
    fine = next(eventmix.events(1, seed=6))
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        incoming = [
            Incoming(KafkaRecord("t", 0, 0, None, b"{}"), huge),
            Incoming(KafkaRecord("t", 0, 1, None, b"{}"), fine),
        ]
        result = ledger.write_batch(incoming, [], {("t", 0): 2})
        assert result.accepted == 2
        assert ledger.counts() == (2, 1)
        reason, detail, kafka_offset = (
            ledger.cursor()
            .execute("SELECT reason, detail, kafka_offset FROM dead_letters")
            .fetchone()
        )
        assert reason == "projection_failed"
        assert "seq 0 is stored" in detail
        assert kafka_offset == 0
        assert ledger.committed_offsets("t") == {0: 2}
        changes = ledger.cursor().execute("SELECT event_id FROM changes").fetchall()
        assert changes == ([(fine.event.id,)] if fine.event.type.endswith("authored.v1") else [])
    finally:
        ledger.close()
