"""What serve's consumer thread spends per record before the worker has it: making a
``KafkaRecord`` of what kafka-python gives (``ledger.batch.to_record``), and writing the batch
for the pipe to the worker (``ledger.prepare.request_bytes``, marshal), against pickle, which
``Connection.send`` used before; and the worker's read of it (``records_of``).

Over records of the event mix (``tests/support/eventmix.py``) in both formats, the header names
made new strings per record as kafka-python decodes them (pickle writes each such name again).
Best of ``--rounds`` passes; µs per record.

    python bench/bench_handover.py [--records 5000] [--rounds 15]
"""

from __future__ import annotations

import argparse
import pickle
import sys
import timeit
from collections.abc import Callable
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kafka.consumer.fetcher import ConsumerRecord

from provenance_ledger.ledger.batch import to_record
from provenance_ledger.ledger.prepare import records_of, request_bytes
from provenance_ledger.schemas.codec import KafkaRecord
from tests.support import eventmix


def as_fetched(records: list[KafkaRecord]) -> list[ConsumerRecord]:
    """The records as kafka-python's consumer hands them over: header names decoded apart."""
    return [
        ConsumerRecord(
            topic=r.topic,
            partition=r.partition,
            leader_epoch=-1,
            offset=r.offset,
            timestamp=0,
            timestamp_type=0,
            key=r.key,
            value=r.value,
            headers=[(name.encode().decode(), value) for name, value in r.headers],
            checksum=None,
            serialized_key_size=-1,
            serialized_value_size=-1,
            serialized_header_size=-1,
        )
        for r in records
    ]


def best_us(work: Callable[[], object], count: int, rounds: int) -> float:
    return min(timeit.repeat(work, number=1, repeat=rounds)) / count * 1e6


def pickled(records: list[KafkaRecord]) -> bytes:
    """The batch as ``Connection.send`` wrote it before: pickle of the records' tuples."""
    tuples = [(r.topic, r.partition, r.offset, r.key, r.value, r.headers) for r in records]
    return bytes(ForkingPickler.dumps(tuples))


def bench_format(fmt: str, count: int, rounds: int) -> str:
    messages = eventmix.messages(count, fmt=fmt, seed=2026)
    fetched = as_fetched(
        [
            KafkaRecord("bench", 0, offset, key, value, tuple(headers))
            for offset, (key, headers, value) in enumerate(messages)
        ]
    )
    records = [to_record(message) for message in fetched]
    by_pickle, by_marshal = pickled(records), request_bytes(records)
    assert pickle.loads(by_pickle) == records_of(by_marshal)
    n = len(records)
    made = best_us(lambda: [to_record(message) for message in fetched], n, rounds)
    pickle_send = best_us(lambda: pickled(records), n, rounds)
    marshal_send = best_us(lambda: request_bytes(records), n, rounds)
    pickle_read = best_us(lambda: pickle.loads(by_pickle), n, rounds)
    marshal_read = best_us(lambda: records_of(by_marshal), n, rounds)
    headers = sum(len(r.headers) for r in records) / n
    return (
        f"{fmt:>4} ({headers:.0f} headers a record): to_record {made:.2f} µs; "
        f"to the worker: pickle {pickle_send:.2f} µs, marshal {marshal_send:.2f} µs "
        f"({marshal_send / pickle_send:.2f}x); the worker's read: pickle {pickle_read:.2f} "
        f"µs, marshal {marshal_read:.2f} µs; {len(by_marshal) / n:.0f} B a record"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    for fmt in ("json", "avro"):
        print(bench_format(fmt, args.records, args.rounds))


if __name__ == "__main__":
    main()
