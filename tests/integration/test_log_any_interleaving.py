"""The log is the topic's, not the consumer's: the same records of each partition, delivered
in any interleaving of the partitions and cut into batches anywhere, give the same log head,
checkpoint and log rows (ledger/recordlog.py), and each such ledger file verifies.

The records hold what a topic holds: accepted events (structured JSON, JSON spelled otherwise,
Avro in binary mode), a producer's retry (a duplicate), an event resent with other content (a
conflicting duplicate), undecodable and null values (dead letters), keys, extra headers and
offset gaps (transaction markers). Kafka orders records within a partition only, and a
producer keys an event to one partition, so duplicates sit in the partition of their original.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance_ledger.ledger.batch import decode_batch, next_offsets
from provenance_ledger.ledger.settings import DEFAULT_MAX_EVENT_BYTES
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.ledger.verify import verify
from provenance_ledger.schemas.codec import KafkaRecord
from tests.support import eventmix

TOPIC = "interleave.test"
Message = tuple[bytes | None, tuple[tuple[str, bytes | None], ...], bytes | None]


def _respelled(value: bytes) -> bytes:
    """The same event as JSON spelled otherwise: accepted, its value kept beside the event."""
    return json.dumps(json.loads(value), indent=1).encode()


def _conflicting(value: bytes) -> bytes:
    """The same (source, id) with other content."""
    event = json.loads(value)
    event["time"] = "2026-12-01T00:00:00Z"
    return json.dumps(event).encode()


def _partitions() -> dict[int, list[Message]]:
    structured = [(k, tuple(h), v) for k, h, v in eventmix.messages(9, "json", seed=31)]
    binary = [(k, tuple(h), v) for k, h, v in eventmix.messages(6, "avro", seed=32)]
    traced = (("trace-id", b"4bf92f3577b34da6"), ("empty", None))
    key, headers, value = structured[0]
    return {
        0: [
            *structured[:4],
            structured[1],  # a producer's retry
            (key, headers + traced, _conflicting(value)),
            (None, (), b"\xff not an event"),
            (key, headers, None),  # a tombstone
        ],
        1: [
            *binary[:3],
            (b"k", (), _respelled(structured[4][2])),
            binary[1],
            (None, traced, b'{"specversion": "1.0"}'),
            *binary[3:],
        ],
        2: [
            *structured[5:8],
            (structured[8][0], structured[8][1], _respelled(structured[8][2])),
            (structured[5][0], (), _conflicting(structured[5][2])),
        ],
    }


PARTITIONS = _partitions()
# Offsets a transactional producer leaves gaps in (its commit markers): partition 1 skips some.
OFFSETS = {0: range(0, 20), 1: range(0, 40, 3), 2: range(7, 30)}


def _records() -> dict[int, list[KafkaRecord]]:
    return {
        partition: [
            KafkaRecord(TOPIC, partition, offset, key, value, headers)
            for offset, (key, headers, value) in zip(OFFSETS[partition], messages, strict=False)
        ]
        for partition, messages in PARTITIONS.items()
    }


RECORDS = _records()


def _write(path: Path, batches: list[list[KafkaRecord]]) -> dict[str, Any]:
    """Write the batches as the consumer would, then what the file says about its log."""
    ledger = Ledger.open(path)
    try:
        for records in batches:
            incoming, rejected = decode_batch(records, DEFAULT_MAX_EVENT_BYTES)
            ledger.write_batch(incoming, rejected, next_offsets(records))
        report = verify(ledger.cursor(), TOPIC)
        cur = ledger.cursor()
        return {
            "head": ledger.head(),
            "ok": report.ok,
            "problem": report.problem,
            "checkpoint": report.checkpoint.body(),
            "log_records": cur.execute(
                "SELECT kafka_partition, idx, kafka_offset, entry, leaf_hash, outcome, value "
                "FROM log_records ORDER BY kafka_partition, idx"
            ).fetchall(),
            "log_nodes": cur.execute(
                "SELECT * FROM log_nodes ORDER BY kafka_partition, level, idx"
            ).fetchall(),
            "events": cur.execute(
                "SELECT source, id, kafka_partition, kafka_offset, canonical FROM events "
                "ORDER BY kafka_partition, kafka_offset"
            ).fetchall(),
            "dead_letters": cur.execute(
                "SELECT kafka_partition, kafka_offset, reason, raw_sha256 FROM dead_letters "
                "ORDER BY kafka_partition, kafka_offset"
            ).fetchall(),
        }
    finally:
        ledger.close()


@pytest.fixture(scope="module")
def empty_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("interleave") / "empty.duckdb"
    Ledger.open(path, migrate=True).close()
    return path


@pytest.fixture(scope="module")
def partition_by_partition(empty_file: Path) -> dict[str, Any]:
    """Each partition whole, one after the other, in one batch each."""
    path = empty_file.with_name("in-order.duckdb")
    shutil.copyfile(empty_file, path)
    return _write(path, [RECORDS[partition] for partition in sorted(RECORDS)])


def test_the_records_hold_every_outcome(partition_by_partition) -> None:
    """What the property below ranges over: all three outcomes, on every partition."""
    written = partition_by_partition
    assert written["ok"], written["problem"]
    outcomes = {(row[0], row[5]) for row in written["log_records"]}
    assert {(0, "accepted"), (0, "duplicate"), (0, "dead_letter")} <= outcomes
    assert {(1, "accepted"), (1, "duplicate"), (1, "dead_letter")} <= outcomes
    assert {(2, "accepted"), (2, "dead_letter")} <= outcomes
    size = sum(len(records) for records in RECORDS.values())
    assert written["head"][0] == size == len(written["log_records"])
    assert written["checkpoint"].endswith(
        f"\npartitions 0:{len(RECORDS[0])} 1:{len(RECORDS[1])} 2:{len(RECORDS[2])}\n"
    )
    reasons = {row[2] for row in written["dead_letters"]}
    assert {"conflicting_duplicate", "malformed_json", "missing_field"} <= reasons
    # Accepted values not byte for byte their canonical JSON (Avro, JSON spelled otherwise)
    # are kept, so that verify can tie the event row to its record; no other value is (the
    # emitter's JSON is the canonical JSON).
    kept = [(row[0], row[5]) for row in written["log_records"] if row[6] is not None]
    assert {(1, "accepted"), (2, "accepted")} == set(kept)
    assert len(kept) == 8  # partition 1: six Avro events and one respelled; partition 2: one


@st.composite
def deliveries(draw: st.DrawFn) -> list[list[KafkaRecord]]:
    """The records in an interleaving that keeps each partition's order, cut into batches."""
    order = draw(st.permutations([p for p, records in RECORDS.items() for _ in records]))
    cut_after = draw(st.lists(st.booleans(), min_size=len(order), max_size=len(order)))
    queues: dict[int, Iterator[KafkaRecord]] = {p: iter(r) for p, r in RECORDS.items()}
    batches: list[list[KafkaRecord]] = [[]]
    for partition, cut in zip(order, cut_after, strict=True):
        batches[-1].append(next(queues[partition]))
        if cut:
            batches.append([])
    return [batch for batch in batches if batch]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batches=deliveries())
def test_any_interleaving_and_batching_gives_the_same_log(
    batches: list[list[KafkaRecord]],
    empty_file: Path,
    partition_by_partition: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    path = tmp_path_factory.mktemp("delivery") / "ledger.duckdb"
    shutil.copyfile(empty_file, path)
    written = _write(path, batches)
    assert written["ok"], written["problem"]
    assert written == partition_by_partition
