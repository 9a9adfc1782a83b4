"""``Ledger.counts`` (what /healthz reports) is counted in DuckDB once and then moved by each
batch the Ledger commits: it must equal a count of the file's rows after every kind of batch
(new events, duplicates, conflicting duplicates, undecodable records, an event the writer
cannot store, a failed transaction), whether first asked before any batch or in the middle,
and after reopening."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from provenance_ledger.ledger.batch import Incoming, decode_batch, next_offsets
from provenance_ledger.ledger.store import Ledger, LedgerError
from provenance_ledger.schemas.codec import KafkaRecord
from tests.support import eventmix, hostile_events

TOPIC = "t"


def _counted(ledger: Ledger) -> tuple[int, int]:
    return (
        ledger.cursor()
        .execute("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM dead_letters)")
        .fetchone()
    )


def _batches() -> list[list[Incoming | KafkaRecord]]:
    """Batches of records over three partitions: new events, the same again (duplicates),
    hostile records, and events with the ids of earlier ones but other content."""
    offsets = {partition: itertools.count() for partition in range(3)}

    def placed(value: bytes, headers: tuple = (), at: int = 0) -> KafkaRecord:
        partition = at % 3
        return KafkaRecord(TOPIC, partition, next(offsets[partition]), None, value, headers)

    mix = list(eventmix.events(1_200, seed=31))
    new = [placed(event.canonical, at=at) for at, event in enumerate(mix)]
    again = [placed(event.canonical, at=at) for at, event in enumerate(mix[:300])]
    hostile = [
        placed(item.value, tuple(item.headers), at)
        for at, item in enumerate(hostile_events.records())
    ]
    changed = [
        placed(event.canonical.replace(b'"time":"', b'"time":"2', 1), at=at)
        for at, event in enumerate(mix[300:350])
    ]
    return [new[:500], new[500:] + again, hostile + changed]


@pytest.mark.parametrize("first_asked", ["before", "between", "after"])
def test_counts_follow_every_committed_batch(tmp_path: Path, first_asked: str) -> None:
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    seen = []
    try:
        if first_asked == "before":
            seen.append(ledger.counts() == _counted(ledger))
        for number, records in enumerate(_batches()):
            incoming, rejected = decode_batch(records, 1024 * 1024)
            ledger.write_batch(incoming, rejected, next_offsets(records))
            if first_asked == "before" or (first_asked == "between" and number >= 1):
                seen.append(ledger.counts() == _counted(ledger))
        # An event the writer cannot store: the batch is retried event by event.
        unstorable = hostile_events.unstorable_event("bad-1")
        bad = Incoming(KafkaRecord(TOPIC, 0, 10_000, None, b"{}"), unstorable)
        ledger.write_batch([bad], [], {(TOPIC, 0): 10_001})
        seen.append(ledger.counts() == _counted(ledger))
        events, dead = ledger.counts()
        assert events == 1_200 and dead > 50  # every kind of batch above left rows
        # A failed transaction commits nothing and moves nothing.
        ledger.cursor().execute("DROP TABLE kafka_offset_marks")
        with pytest.raises(LedgerError):
            ledger.write_batch(*decode_batch(_batches()[0][:5], 1024 * 1024), {(TOPIC, 0): 1})
        assert ledger.counts() == (events, dead)
    finally:
        ledger.close()
    assert seen and all(seen)


def test_counts_of_a_reopened_ledger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    ledger = Ledger.open(path, migrate=True)
    try:
        for records in _batches():
            ledger.write_batch(*decode_batch(records, 1024 * 1024), next_offsets(records))
        written = ledger.counts()
    finally:
        ledger.close()
    for read_only in (False, True):
        reopened = Ledger.open(path, read_only=read_only)
        try:
            assert reopened.counts() == written == _counted(reopened)
        finally:
            reopened.close()
