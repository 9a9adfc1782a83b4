"""The log's encodings (ledger/recordlog.py): entries name the exact record, the head
ignores empty partitions, and a RecordLog's head does not depend on the interleaving."""

from __future__ import annotations

import hashlib
import random

import pytest

from provenance_ledger.ledger import merkle, recordlog
from provenance_ledger.schemas.codec import KafkaRecord


def _record(partition: int, offset: int, value: bytes | None = b"v") -> KafkaRecord:
    return KafkaRecord("t", partition, offset, b"key", value, (("h", b"1"), ("h", None)))


def test_an_entry_names_partition_offset_key_headers_and_the_value_digest() -> None:
    record = _record(2, 41, b"the value")
    entry = recordlog.record_entry(record)
    assert recordlog.entry_position(entry) == (2, 41)
    assert recordlog.value_digest(entry) == hashlib.sha256(b"the value").digest()
    back = recordlog.parse_entry(entry, record.value)
    assert (back.partition, back.offset, back.key, back.headers, back.value) == (
        2,
        41,
        b"key",
        (("h", b"1"), ("h", b"")),
        b"the value",
    )


@pytest.mark.parametrize(
    "other",
    [
        _record(2, 42, b"the value"),
        _record(3, 41, b"the value"),
        _record(2, 41, b"the valuE"),
        _record(2, 41, None),
        KafkaRecord("t", 2, 41, None, b"the value", (("h", b"1"), ("h", None))),
        KafkaRecord("t", 2, 41, b"key", b"the value", (("h", b"1"),)),
    ],
)
def test_any_difference_in_the_record_changes_the_entry(other: KafkaRecord) -> None:
    assert recordlog.record_entry(other) != recordlog.record_entry(_record(2, 41, b"the value"))


def test_a_header_that_looks_like_a_digest_is_not_taken_for_one() -> None:
    """A null value's entry ends with a header of the producer's choosing: its last 33 bytes
    can be 0x01 and a hash, and must not be read as the value's digest."""
    forged_tail = b"\x01" + hashlib.sha256(b"x").digest()[:31]
    record = KafkaRecord("t", 0, 0, None, None, (("h", forged_tail),))
    entry = recordlog.record_entry(record)
    assert recordlog.value_digest(entry) is None
    with pytest.raises(ValueError, match="value digest"):
        recordlog.value_digest(entry + b"\x00")


def test_a_null_value_has_no_digest_and_a_truncated_entry_is_refused() -> None:
    entry = recordlog.record_entry(_record(0, 0, None))
    assert recordlog.value_digest(entry) is None
    with pytest.raises(ValueError, match="not a record entry"):
        recordlog.parse_entry(entry[:15], None)


def test_the_head_is_over_non_empty_partitions_in_partition_order() -> None:
    root_a, root_b = merkle.leaf_hash(b"a"), merkle.leaf_hash(b"b")
    expected = merkle.root_from_leaves(
        [recordlog.head_leaf(0, 1, root_a), recordlog.head_leaf(5, 1, root_b)]
    )
    assert recordlog.head_root([(5, 1, root_b), (3, 0, merkle.EMPTY_ROOT), (0, 1, root_a)]) == (
        expected
    )
    assert recordlog.head_root([]) == merkle.EMPTY_ROOT


@pytest.mark.parametrize("seed", range(20))
def test_any_interleaving_of_the_same_partitions_gives_the_same_head(seed: int) -> None:
    records = [_record(p, o, f"{p}/{o}".encode()) for p in range(4) for o in range(37 + p)]
    # A random interleaving that keeps each partition's offset order, as a consumer sees it.
    turns = random.Random(seed).sample([r.partition for r in records], len(records))
    queues = {p: [r for r in records if r.partition == p] for p in range(4)}
    order = [queues[p].pop(0) for p in turns]
    assert order != records
    logs = []
    for sequence in (records, order):
        log = recordlog.RecordLog()
        for record in sequence:
            log.append(record.partition, merkle.leaf_hash(recordlog.record_entry(record)))
        logs.append(log)
    assert logs[0].cut() == logs[1].cut() == tuple((p, 37 + p) for p in range(4))
    assert logs[0].root() == logs[1].root()
    assert logs[0].size == len(records)


@pytest.mark.parametrize("text", ["0:1 0:2", "1:2 0:3", "0:0", "a:1", "0:-1", "0"])
def test_a_bad_partitions_line_is_refused(text: str) -> None:
    with pytest.raises(recordlog.CutError):
        recordlog.parse_cut(text)


def test_a_partitions_line_round_trips() -> None:
    assert recordlog.parse_cut(recordlog.format_cut(((0, 3), (2, 9)))) == ((0, 3), (2, 9))
