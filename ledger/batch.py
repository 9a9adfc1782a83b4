"""One batch on its way into the ledger: Kafka messages become records, records are decoded
into the events that go in (:class:`Incoming`) and the records that become dead letters
(:class:`Rejected`), and writing the batch says what it did (:class:`BatchResult`).
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass, field

from provenance_ledger.ledger.origin import KAFKA, OriginKey
from provenance_ledger.schemas import jsonsafe
from provenance_ledger.schemas.codec import (
    ContentMode,
    DecodedEvent,
    DecodeError,
    KafkaRecord,
    content_mode,
    decode_record,
)
from provenance_ledger.schemas.events import SECRET_VALUES_REFUSED

log = logging.getLogger(__name__)
MAX_DETAIL_CHARS = 2000
# What a dead letter keeps of the source, id and type a bad record names for itself.
MAX_ATTRIBUTE_CHARS = 512
NAMED = ("source", "id", "type")
NO_RAW_PREFIX = " (no raw_prefix kept: the record holds the secret's values)"
# Net new container objects before the young generation is collected (relax_gc).
GC_YOUNG_OBJECTS = 1_000_000


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
    keep_raw_prefix: bool = True


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
    walks them hundreds of times per batch, which cost a third of ingest CPU. At 50,000 it
    still walked the two batches alive (one decoding, one writing) a few times per batch:
    12 µs per event of the ingest ceiling. At GC_YOUNG_OBJECTS it does not run while the
    ledger keeps up, and what reference counting cannot free (cycles) still cannot pile
    up beyond that many objects. Objects that exist by now (modules, schemas, the app) are
    frozen out of its walks altogether.
    """
    gc.freeze()
    gc.set_threshold(GC_YOUNG_OBJECTS, 20, 100)


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
            rejected.append(_dead_letter(record, decoded, max_event_bytes, origin))
        else:
            incoming.append(Incoming(record, decoded, origin))
    return incoming, rejected


def _dead_letter(
    record: KafkaRecord, error: DecodeError, max_event_bytes: int, origin: str
) -> Rejected:
    source, id_, type_ = _named_attributes(record, max_event_bytes)
    secret = error.code == "invalid_field" and SECRET_VALUES_REFUSED in error.detail
    detail = f"{error.detail}{NO_RAW_PREFIX}" if secret else error.detail
    return Rejected(record, error.code, detail, source, id_, type_, origin, not secret)


def _named_attributes(
    record: KafkaRecord, max_event_bytes: int
) -> tuple[str | None, str | None, str | None]:
    """The source, id and type a rejected record names: from its ``ce_*`` headers in binary
    mode, from its value (when that is a JSON object within the size limit) in structured mode.
    Never raises: the record is known to be bad."""
    if content_mode(record) is not ContentMode.STRUCTURED:
        return _attributes({name: record.header(f"ce_{name}") for name in NAMED})
    value = record.value
    if not value or len(value) > max_event_bytes:
        return None, None, None
    try:
        parsed = jsonsafe.loads(value)
    except (ValueError, RecursionError):
        return None, None, None
    return _attributes(parsed if isinstance(parsed, dict) else {})


def _attributes(found: dict[str, object]) -> tuple[str | None, str | None, str | None]:
    source, id_, type_ = (found.get(name) for name in NAMED)
    return _bounded(source), _bounded(id_), _bounded(type_)


def _bounded(value: object) -> str | None:
    return value[:MAX_ATTRIBUTE_CHARS] if isinstance(value, str) else None


def next_offsets(records: list[KafkaRecord]) -> dict[tuple[str, int], int]:
    """Per (topic, partition), the offset after the batch's last record there."""
    offsets: dict[tuple[str, int], int] = {}
    for record in records:
        key = (record.topic, record.partition)
        offsets[key] = max(offsets.get(key, 0), record.offset + 1)
    return offsets
