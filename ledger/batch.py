"""One batch on its way into the ledger: Kafka messages become records, records are decoded
into the events that go in (:class:`Incoming`) and the records that become dead letters
(:class:`Rejected`), and writing the batch says what it did (:class:`BatchResult`).
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass, field

from provenance_ledger.ledger.origin import KAFKA, OriginKey
from provenance_ledger.schemas.codec import DecodedEvent, DecodeError, KafkaRecord, decode_record

log = logging.getLogger(__name__)
MAX_DETAIL_CHARS = 2000


@dataclass(frozen=True)
class Incoming:
    record: KafkaRecord
    decoded: DecodedEvent
    origin: str = KAFKA


@dataclass(frozen=True)
class Rejected:
    record: KafkaRecord | None
    reason: str
    detail: str
    source: str | None = None
    id: str | None = None
    type: str | None = None
    origin: str = KAFKA


@dataclass
class BatchResult:
    accepted: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    tables: dict[str, int] = field(default_factory=dict)


def relax_gc() -> None:
    """Make the cyclic garbage collector run rarely, for the rest of the process.

    A batch holds hundreds of thousands of young objects (records, decoded events, rows)
    that reference counting frees; with the default gen-0 threshold of 700 the collector
    walks them hundreds of times per batch, which cost a third of ingest CPU. Objects that
    exist by now (modules, schemas, the app) are frozen out of its walks altogether.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def to_record(message) -> KafkaRecord:
    return KafkaRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        headers=tuple(message.headers or ()),
    )


def decode_batch(
    records: list[KafkaRecord], max_event_bytes: int, origins: OriginKey | None = None
) -> tuple[list[Incoming], list[Rejected]]:
    """The events and the dead letters of ``records``; with ``origins``, each gets the origin
    its record proves (ledger/origin.py), else ``kafka``."""
    incoming: list[Incoming] = []
    rejected: list[Rejected] = []
    for record in records:
        origin = origins.origin_of(record) if origins is not None else KAFKA
        try:
            decoded = decode_record(record, max_event_bytes)
        except Exception as exc:
            # decode_record is total by design; a bug in it must not stop ingestion either.
            log.exception("decoding the record at offset %d failed", record.offset)
            detail = f"{type(exc).__name__}: {exc}"[:MAX_DETAIL_CHARS]
            decoded = DecodeError("internal_error", detail)
        if isinstance(decoded, DecodeError):
            rejected.append(
                Rejected(
                    record,
                    decoded.code,
                    decoded.detail,
                    record.header("ce_source"),
                    record.header("ce_id"),
                    record.header("ce_type"),
                    origin,
                )
            )
        else:
            incoming.append(Incoming(record, decoded, origin))
    return incoming, rejected


def next_offsets(records: list[KafkaRecord]) -> dict[tuple[str, int], int]:
    """Per (topic, partition), the offset after the batch's last record there."""
    offsets: dict[tuple[str, int], int] = {}
    for record in records:
        key = (record.topic, record.partition)
        offsets[key] = max(offsets.get(key, 0), record.offset + 1)
    return offsets
