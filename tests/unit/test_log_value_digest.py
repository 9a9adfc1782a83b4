"""The writer takes a record's value digest from its event's content hash when the value is
the canonical bytes (ledger/writer.py ``append_to_log``): the log's rows must be those of
digesting every value itself."""

from __future__ import annotations

import pytest

from provenance_ledger.ledger import merkle, recordlog
from provenance_ledger.ledger.batch import decode_batch
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.schemas.codec import KafkaRecord
from tests.support import eventmix


def _records(fmt: str) -> list[KafkaRecord]:
    messages = list(eventmix.messages(300, fmt=fmt, seed=11))
    records = [
        KafkaRecord("t", offset % 3, offset // 3, key, value, tuple(headers))
        for offset, (key, headers, value) in enumerate(messages)
    ]
    # A redelivery: duplicates are in the log too.
    again = records[5]
    return records + [
        KafkaRecord("t", again.partition, 10_000 + at, again.key, again.value, again.headers)
        for at in range(3)
    ]


@pytest.mark.parametrize("fmt", ["json", "avro"])
def test_log_rows_are_those_of_digesting_every_value(fmt: str) -> None:
    records = _records(fmt)
    incoming, rejected = decode_batch(records, 1 << 20)
    verbatim = [item for item in incoming if item.record.value == item.decoded.canonical]
    assert (fmt == "json") == bool(verbatim)  # the JSON mix sends canonical bytes as values
    ledger = Ledger.open(":memory:", migrate=True)
    ledger.write_batch(incoming, rejected, {("t", 0): 10_003})
    stored = (
        ledger.cursor()
        .execute("SELECT kafka_partition, kafka_offset, entry, leaf_hash FROM log_records")
        .fetchall()
    )
    expected = {(r.partition, r.offset): recordlog.record_entry(r) for r in records}
    assert len(stored) == len(records)
    for partition, offset, entry, leaf in stored:
        assert entry == expected[(partition, offset)]
        assert leaf == merkle.leaf_hash(entry)
