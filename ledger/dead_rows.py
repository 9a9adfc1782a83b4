"""The ``dead_letters`` columns of rejected records (``received_at`` is set by the writer):
made by the writer, and by the worker that prepares a batch (ledger/prepare.py)."""

from __future__ import annotations

import hashlib

from provenance_ledger.ledger.batch import Rejected
from provenance_ledger.ledger.projection import Columns, Row

RAW_PREFIX_BYTES = 4096


def dead_letter_columns(items: list[Rejected]) -> Columns:
    rows = [_dead_row(item) for item in items]
    return {name: [row[name] for row in rows] for name in rows[0]}


def _storable(text: str | None) -> str | None:
    """Text a VARCHAR takes: what a bad record says about itself may hold lone surrogates."""
    if text is None or text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _dead_row(item: Rejected) -> Row:
    raw = item.record.value if item.record is not None and item.record.value else b""
    return {
        "reason": item.reason,
        "detail": _storable(item.detail),
        "source": _storable(item.source),
        "id": _storable(item.id),
        "type": _storable(item.type),
        "raw_prefix": raw[:RAW_PREFIX_BYTES] if item.keep_raw_prefix else None,
        "raw_size": len(raw),
        "raw_sha256": hashlib.sha256(raw).hexdigest(),
        "topic": item.record.topic if item.record else None,
        "kafka_partition": item.record.partition if item.record else None,
        "kafka_offset": item.record.offset if item.record else None,
        "origin": item.origin,
    }
