"""The event contract end to end: a real broker, the ledger consumer, a real DuckDB file.

One topic receives every type in Avro binary mode and in structured JSON, every CDEvents
conformance file bare and wrapped (fresh ids), a CDEvents chain, a duplicate delivered in the
other mode, and one record of each bad kind. Then SQL shows every good event stored and
projected once, every bad one a dead letter with its reason, raw bytes and coordinates, and
the consumer past the last offset.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from kafka import KafkaProducer

from provenance_ledger.ledger.consumer import LedgerConsumer
from provenance_ledger.ledger.projection import Accepted, project
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.producers.emitter import Emitter, encode_message
from provenance_ledger.schemas import avro, cdevents
from provenance_ledger.schemas.codec import STRUCTURED, DecodedEvent, validate_event
from provenance_ledger.schemas.events import DATA_MODELS
from tests.support.waiting import wait_until

pytestmark = pytest.mark.kafka

EXAMPLES = Path(avro.__file__).resolve().parent / "examples"
MAX_EVENT_BYTES = 4096
PROJECTION_TABLES = (
    *("people", "changes", "change_ai", "reviews", "merges", "artifacts", "deployments"),
    *("deployment_changes", "rollbacks", "agent_actions", "incidents", "incident_resolutions"),
    "attributions",
)


def ours(event_type: str, event_id: str, **data: object) -> DecodedEvent:
    obj = json.loads((EXAMPLES / f"{event_type}.json").read_text())
    obj["id"] = event_id
    obj["data"] |= data
    result = validate_event(obj)
    assert isinstance(result, DecodedEvent), result
    return result


def cdevent(folder: Path, name: str, event_id: str) -> dict:
    obj = json.loads((folder / "conformance" / f"{name}.json").read_text())
    obj["context"]["id"] = event_id
    return obj


def chain(folder: Path) -> list[dict]:
    """artifact.packaged → service.deployed → incident.detected, as a CD system emits them."""
    artifact = "pkg:oci/checkout@sha256%3A5d41402abc4b2a76b9719d911017c592"
    packaged = cdevent(folder, "artifact_packaged", "chain-packaged")
    packaged["subject"] |= {"id": artifact}
    packaged["subject"]["content"]["change"] = {"id": "4312", "source": "github.com/acme/shop"}
    deployed = cdevent(folder, "service_deployed", "chain-deployed")
    deployed["context"]["timestamp"] = "2026-11-26T11:00:00Z"
    deployed["subject"] |= {"id": "checkout-cd"}
    deployed["subject"]["content"] = {"environment": {"id": "prod"}, "artifactId": artifact}
    detected = cdevent(folder, "incident_detected", "chain-detected")
    detected["context"]["timestamp"] = "2026-11-26T11:30:00Z"
    detected["subject"]["id"] = "INC-CD-1"
    detected["subject"]["content"]["service"]["id"] = "checkout-cd"
    detected["subject"]["content"]["environment"]["id"] = "prod"
    return [packaged, deployed, detected]


class Feed:
    """Sends records one by one (so offsets are known) and remembers what each should become."""

    def __init__(self, settings: Settings) -> None:
        self.topic = settings.topic
        self.producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        self.good: list[DecodedEvent] = []
        self.bad: dict[int, tuple[str, bytes]] = {}
        self.sent = 0

    def send(self, headers: list[tuple[str, bytes]], value: bytes | None) -> int:
        future = self.producer.send(self.topic, key=b"contract", value=value, headers=headers)
        self.sent += 1
        return future.get(timeout=15).offset

    def good_event(self, decoded: DecodedEvent, fmt: str) -> None:
        self.send(*encode_message(decoded, fmt))
        self.good.append(decoded)

    def good_json(self, obj: dict, headers: list[tuple[str, bytes]] | None = None) -> None:
        decoded = validate_event(obj)
        assert isinstance(decoded, DecodedEvent), decoded
        self.send(
            [("content-type", STRUCTURED.encode())] if headers is None else headers,
            json.dumps(obj).encode(),
        )
        self.good.append(decoded)

    def bad_record(self, reason: str, headers: list[tuple[str, bytes]], value: bytes | None):
        offset = self.send(headers, value)
        self.bad[offset] = (reason, value or b"")


def wait_for_offset(ledger: Ledger, thread: threading.Thread, topic: str, end: int) -> None:
    """Until the ledger has committed every record (a bound for a stall, not a speed test)."""

    def committed() -> bool:
        if ledger.committed_offsets(topic).get(0, 0) >= end:
            return True
        assert thread.is_alive(), "the consumer thread died"
        return False

    wait_until(
        committed, 60, lambda: f"offset {end} (consumer at {ledger.committed_offsets(topic)})"
    )


def test_every_mode_and_every_bad_kind_on_a_real_broker(
    settings: Settings, cdevents_dir: Path
) -> None:
    settings = replace(settings, max_event_bytes=MAX_EVENT_BYTES)
    feed = Feed(settings)
    run = uuid.uuid4().hex[:8]

    # Every type in Avro binary mode through the producer library, then in structured JSON.
    with Emitter(settings.kafka_bootstrap, settings.topic) as emitter:
        for event_type in sorted(DATA_MODELS):
            decoded = ours(event_type, f"avro-{event_type}-{run}")
            emitter.publish(decoded)
            feed.sent += 1
            feed.good.append(decoded)
    for event_type in sorted(DATA_MODELS):
        feed.good_event(ours(event_type, f"json-{event_type}-{run}"), "json")

    # The same event again in the other mode: one event, stored and projected once.
    again = ours(
        "dev.provledger.service.deployed.v1", f"avro-dev.provledger.service.deployed.v1-{run}"
    )
    feed.send(*encode_message(again, "json"))

    # One of each bad kind, between good ones.
    incident = ours("dev.provledger.incident.opened.v1", f"bad-{run}")
    avro_headers, avro_value = encode_message(incident, "avro")
    structured = [("content-type", STRUCTURED.encode())]
    authored = json.loads((EXAMPLES / "dev.provledger.change.authored.v1.json").read_text())
    authored["id"] = f"bad-authored-{run}"
    feed.bad_record(
        "unknown_type",
        structured,
        json.dumps({**authored, "type": "dev.provledger.change.teleported.v1"}).encode(),
    )
    missing = copy.deepcopy(authored)
    del missing["data"]["commit"]
    feed.bad_record("missing_field", structured, json.dumps(missing).encode())
    wrong = copy.deepcopy(authored)
    wrong["data"]["lines_added"] = "120"
    feed.bad_record("wrong_type", structured, json.dumps(wrong).encode())
    feed.bad_record("malformed_json", [], b'{"specversion": "1.0", "id": "x", ')
    feed.bad_record("truncated_avro", avro_headers, avro_value[:-4])
    feed.bad_record(
        "unknown_fingerprint", avro_headers, avro_value[:2] + b"\x01" * 8 + avro_value[10:]
    )
    oversized = copy.deepcopy(authored)
    oversized["data"]["message"] = "x" * MAX_EVENT_BYTES
    feed.bad_record("oversized", structured, json.dumps(oversized).encode())
    feed.bad_record("empty_value", [], None)
    conflicting = ours(
        "dev.provledger.incident.opened.v1",
        f"json-dev.provledger.incident.opened.v1-{run}",
        title="Another title",
    )
    feed.bad_record("conflicting_duplicate", *encode_message(conflicting, "json"))

    # Every CDEvents conformance file, bare and wrapped (binary mode, JSON data), fresh ids.
    for path in sorted((cdevents_dir / "conformance").glob("*.json")):
        bare = cdevent(cdevents_dir, path.stem, f"bare-{path.stem}-{run}")
        feed.good_json(bare)
        wrapped = validate_event(
            cdevents.wrap(cdevent(cdevents_dir, path.stem, f"wrapped-{path.stem}-{run}"))
        )
        assert isinstance(wrapped, DecodedEvent)
        feed.good_event(wrapped, "avro")
    for obj in chain(cdevents_dir):
        feed.good_json(obj, headers=[])
    feed.good_event(ours("dev.provledger.change.reviewed.v1", f"last-{run}"), "avro")
    feed.producer.close()

    ledger = Ledger.open(settings.db_path, migrate=True)
    consumer = LedgerConsumer(ledger, settings)
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    try:
        wait_for_offset(ledger, thread, settings.topic, feed.sent)
    finally:
        consumer.stop()
        thread.join(timeout=30)
    assert not thread.is_alive()
    cur = ledger.cursor()

    # Every good event stored exactly once, nothing else stored.
    stored = Counter(cur.execute("SELECT source, id FROM events").fetchall())
    assert set(stored.values()) == {1}
    assert set(stored) == {item.event.key for item in feed.good}

    # Projected exactly once: each table holds what the pure projection says, no more.
    expected = project([Accepted(n, item) for n, item in enumerate(feed.good)])
    for table in PROJECTION_TABLES:
        count = cur.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        assert count == len(expected.get(table, [])), table

    # Every bad record is a dead letter with its reason, raw bytes and coordinates.
    dead = cur.execute(
        "SELECT kafka_offset, reason, detail, raw_prefix, raw_size, raw_sha256, topic, "
        "kafka_partition FROM dead_letters ORDER BY kafka_offset"
    ).fetchall()
    assert [row[0] for row in dead] == sorted(feed.bad)
    for offset, reason, detail, prefix, size, digest, topic, partition in dead:
        want_reason, raw = feed.bad[offset]
        assert reason == want_reason, (offset, reason, detail)
        assert detail
        assert (topic, partition) == (settings.topic, 0)
        assert bytes(prefix) == raw[:4096] and size == len(raw)
        assert digest == hashlib.sha256(raw).hexdigest()

    # The CDEvents chain leads from the incident to the change.
    found = cur.execute(
        """
        SELECT a.repo, a.change_ref, d.event_id
        FROM incidents i
        JOIN deployments d ON list_contains(i.services, d.service)
             AND d.deployed_at <= i.opened_at
        JOIN artifacts a ON a.artifact = d.artifact
        WHERE i.incident = 'INC-CD-1'
        """
    ).fetchall()
    assert found == [("acme/shop", "4312", "chain-deployed")]

    # Nothing stalled: the stored offset is past the last record.
    assert ledger.committed_offsets(settings.topic) == {0: feed.sent}
    ledger.close()
