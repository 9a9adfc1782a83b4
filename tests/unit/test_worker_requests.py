"""A batch as it crosses to the batch-preparing worker (ledger/prepare.py): every record comes
out as it went in, whatever it holds, and bytes that are not a batch are refused rather than
prepared."""

from __future__ import annotations

import marshal

import pytest

from provenance_ledger.ledger.prepare import records_of, request_bytes
from provenance_ledger.schemas.codec import KafkaRecord


def _crossed(records: list[KafkaRecord]) -> list[KafkaRecord]:
    return [KafkaRecord(*fields) for fields in records_of(request_bytes(records))]


def test_records_cross_whole() -> None:
    records = [
        KafkaRecord("provenance.events", 2, 41, b"key", b'{"id":"1"}', (("ce_id", b"1"),)),
        KafkaRecord("provenance.events", 0, 0, None, None, ()),
        # A header without a value, repeated names, and bytes that are not UTF-8.
        KafkaRecord(
            "t",
            1,
            2**62,
            b"\xff\x00",
            b"\xc3\x01" + bytes(range(256)),
            (
                ("ce_type", None),
                ("CE_TYPE", b"\xff\xfe"),
                ("content-type", b"application/avro"),
            ),
        ),
    ]
    assert _crossed(records) == records


def test_a_large_hostile_record_crosses_as_it_is() -> None:
    headers = tuple((f"h{n}\ud800", b"x" * (n % 7)) for n in range(10_000))
    record = KafkaRecord("t", 0, 5, b"k" * 100_000, b"\x00" * 1_048_576, headers)
    assert _crossed([record]) == [record]


@pytest.mark.parametrize(
    "request_",
    [
        b"",
        b"not marshal",
        request_bytes([KafkaRecord("t", 0, 1, None, b"v")])[:-3],
        marshal.dumps({"a": "dict, not a batch"}),
    ],
    ids=["empty", "garbage", "cut short", "not a list"],
)
def test_what_is_not_a_batch_is_refused(request_: bytes) -> None:
    with pytest.raises((ValueError, EOFError, TypeError)):
        records_of(request_)
