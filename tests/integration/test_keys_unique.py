"""``(source, id)`` stays unique in ``events`` with no index on it in the file: the writer's
key index finds the stored events a batch may repeat (ledger/keyindex.py), across batches,
partitions and restarts, and when keys share a hash; ``provledger verify`` finds a key stored
twice if the writer ever let one through."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from provenance_ledger.ledger import keyindex, verify_rows
from provenance_ledger.ledger.batch import BatchResult, decode_batch, next_offsets
from provenance_ledger.ledger.keyindex import KeyIndex
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.ledger.verify import verify
from provenance_ledger.schemas.codec import KafkaRecord
from tests.support import eventmix

TOPIC = "keys.test"


class Topic:
    """Records over three partitions with their next offsets, as the consumer reads them."""

    def __init__(self) -> None:
        self.offsets = {partition: itertools.count() for partition in range(3)}

    def records(self, values: list[bytes], start: int = 0) -> list[KafkaRecord]:
        placed = []
        for at, value in enumerate(values, start):
            partition = at % 3
            placed.append(KafkaRecord(TOPIC, partition, next(self.offsets[partition]), None, value))
        return placed


def _write(ledger: Ledger, records: list[KafkaRecord]) -> BatchResult:
    incoming, rejected = decode_batch(records, 1024 * 1024)
    return ledger.write_batch(incoming, rejected, next_offsets(records))


def _keys_stored_twice(ledger: Ledger) -> int:
    return (
        ledger.cursor()
        .execute(
            "SELECT count(*) FROM (SELECT source, id FROM events GROUP BY ALL HAVING count(*) > 1)"
        )
        .fetchall()[0][0]
    )


@pytest.mark.parametrize("key_hash", ["hash(source, id)", "hash(source, id) % 4"])
def test_repeats_are_found_across_batches_restarts_and_shared_hashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key_hash: str
) -> None:
    """With ``% 4`` every stored key shares its hash with a quarter of the others (in the
    writer and in verify, which must not take keys sharing a hash for a key stored twice)."""
    monkeypatch.setattr(keyindex, "KEY_HASH", key_hash)
    path = tmp_path / "ledger.duckdb"
    events = [event.canonical for event in eventmix.events(2_600, seed=41)]
    changed = [value.replace(b'"time":"', b'"time":"2', 1) for value in events[700:740]]
    topic = Topic()
    ledger = Ledger.open(path, migrate=True)
    try:
        unique = (
            ledger.cursor()
            .execute(
                "SELECT count(*) FROM duckdb_constraints() "
                "WHERE table_name = 'events' AND constraint_type = 'UNIQUE'"
            )
            .fetchall()
        )
        assert unique == [(0,)]  # only the writer keeps keys unique
        results = [
            _write(ledger, topic.records(events[start : start + 500], start)) for start in (0, 500)
        ]
        # A batch that repeats half of the first (same content) and changes 40 events' time.
        results.append(
            _write(ledger, topic.records(events[1_000:1_300] + events[200:700] + changed))
        )
    finally:
        ledger.close()
    ledger = Ledger.open(path)  # a restart: the key index is loaded from the file
    try:
        results.append(_write(ledger, topic.records(events[1_250:2_600] + events[:100])))
        assert [(r.accepted, r.duplicates, r.dead_letters) for r in results] == [
            (500, 0, 0),
            (500, 0, 0),
            (300, 500, 40),
            (1_300, 150, 0),
        ]
        assert ledger.counts() == (2_600, 40)
        assert _keys_stored_twice(ledger) == 0
        assert verify(ledger.cursor(), TOPIC).ok
    finally:
        ledger.close()


@pytest.mark.parametrize("row_span", [verify_rows.ROW_SPAN, 250])
def test_verify_finds_a_key_the_writer_let_in_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, row_span: int
) -> None:
    """A writer whose key index forgot what it held: the log and the rows agree with each
    other, so only the check of keys tells. With ``row_span`` 250 the key hashes are read in
    five ranges, and the two copies sit in different ones."""
    monkeypatch.setattr(verify_rows, "ROW_SPAN", row_span)
    events = [event.canonical for event in eventmix.events(1_200, seed=43)]
    topic = Topic()
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        _write(ledger, topic.records(events[:1_000]))
        assert verify(ledger.cursor(), TOPIC).ok
        monkeypatch.setattr(KeyIndex, "seqs_of", lambda self, hashes: hashes[:0].astype("int64"))
        _write(ledger, topic.records(events[1_000:] + events[650:651]))
        assert _keys_stored_twice(ledger) == 1
        report = verify(ledger.cursor(), TOPIC)
    finally:
        ledger.close()
    assert not report.ok
    problem = report.problem
    assert problem is not None
    assert (problem.where, problem.kind) == ("row seq 1200", "inserted")
    assert "the event's at seq 650, stored twice" in problem.detail
