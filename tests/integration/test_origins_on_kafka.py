"""Origins on the real broker and DuckDB file: the ledger stores the origin a record's MAC
proves, and ``kafka`` for a record that only claims one (forged headers, a signed record
changed on the way, a key the ledger does not hold); a file from before origins gets them."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
from kafka import KafkaProducer

from provenance_ledger.ledger import migrate, origin
from provenance_ledger.ledger.rebuild import rebuild
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.producers.emitter import Emitter
from provenance_ledger.producers.envelope import build_event
from provenance_ledger.schemas.codec import STRUCTURED
from tests.support.producers import running_ledger, wait_for

REVIEW = {
    "repo": "acme/shop",
    "commit": "a" * 40,
    "reviewer": {"id": "sam@acme.example"},
    "decision": "approved",
}


def produce_raw(settings: Settings, records: list[tuple[list[tuple[str, bytes]], bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    try:
        for headers, value in records:
            producer.send(settings.topic, value=value, headers=headers)
        producer.flush(timeout=30)
    finally:
        producer.close()


def review(event_id: str) -> bytes:
    event = build_event("change.reviewed", REVIEW, "test/origins", event_id=event_id)
    return json.dumps(event.event.model_dump(mode="json", exclude_none=True)).encode()


def test_the_ledger_stores_the_origin_the_mac_proves_and_kafka_otherwise(settings: Settings):
    key = origin.load_key(settings)  # the key file the ledger's consumer will read too
    content = [("content-type", STRUCTURED.encode())]
    signed_value = review("changed-on-the-way")
    tampered = key.sign("webhook:github", content, signed_value)
    forged = [
        *content,
        (origin.ORIGIN_HEADER, b"webhook:github"),
        (origin.MAC_HEADER, b"0" * 64),
    ]
    other_key = origin.OriginKey(b"x" * 32).sign("api-token:ci", content, review("other-key"))
    produce_raw(
        settings,
        [
            (forged, review("forged")),
            (tampered, signed_value.replace(b"approved", b"commented")),
            (other_key, review("other-key")),
            (content, review("plain")),
            (key.sign("api-token:ci", content, b"{not json"), b"{not json"),
        ],
    )
    with Emitter(settings.kafka_bootstrap, settings.topic, fmt="avro") as emitter:
        signer = lambda headers, value: key.sign("api-token:ci", headers, value)  # noqa: E731
        emitter.send(build_event("change.reviewed", REVIEW, "test/origins", event_id="api"), signer)
        emitter.send(build_event("change.reviewed", REVIEW, "test/origins", event_id="hook"),
                     lambda headers, value: key.sign("webhook:github", headers, value))  # fmt: skip
    with running_ledger(settings) as live:
        wait_for(live, 6)
        cur = live.cursor()
        stored = dict(cur.execute("SELECT id, origin FROM events").fetchall())
        dead = cur.execute("SELECT reason, origin FROM dead_letters").fetchall()
        reviews = cur.execute(
            "SELECT r.event_id, e.origin FROM reviews r JOIN events e ON e.seq = r.event_seq "
            "ORDER BY r.event_id"
        ).fetchall()
    assert stored == {
        "forged": "kafka",
        "changed-on-the-way": "kafka",
        "other-key": "kafka",
        "plain": "kafka",
        "api": "api-token:ci",  # binary mode (Avro): the ce_ headers are bound too
        "hook": "webhook:github",
    }
    assert dead == [("malformed_json", "api-token:ci")]
    assert ("hook", "webhook:github") in reviews and ("forged", "kafka") in reviews
    # A rebuild replays the topic with the same key: the same origins.
    rebuild(settings)
    conn = duckdb.connect(str(settings.db_path), read_only=True)
    try:
        assert dict(conn.execute("SELECT id, origin FROM events").fetchall()) == stored
    finally:
        conn.close()


def test_migrating_a_file_from_before_origins_gives_its_events_kafka(tmp_path: Path):
    path = tmp_path / "before.duckdb"
    Ledger.open(path, migrate=True).close()
    conn = duckdb.connect(str(path))  # made as an older provledger made it: no origin columns
    for table in ("events", "dead_letters"):
        conn.execute(f"ALTER TABLE {table} DROP COLUMN origin")
    conn.execute("UPDATE ledger_schema SET digest = 'before origins'")
    conn.execute(
        "INSERT INTO events (seq, source, id, type, time, content_hash, canonical, leaf_hash, "
        "ingested_at) VALUES (0, 'test/old', 'old-1', 't', now(), 'h', '{}', 'x'::BLOB, now())"
    )
    conn.execute("INSERT INTO dead_letters (reason, detail, received_at) VALUES ('r', 'd', now())")
    try:
        migrate.migrate(conn)
        migrate.require_current(conn, str(path))
        assert conn.execute("SELECT id, origin FROM events").fetchall() == [("old-1", "kafka")]
        assert conn.execute("SELECT origin FROM dead_letters").fetchall() == [("kafka",)]
    finally:
        conn.close()
