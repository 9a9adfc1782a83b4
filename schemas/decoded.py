"""What decoding gives: a :class:`DecodedEvent` whose canonical bytes are built on demand, or
a :class:`DecodeError` whose ``code`` is one of :data:`REASONS`.

Both sides of the codec use these (:mod:`schemas.codec` decides, :mod:`schemas.avro` reads and
writes Avro bodies), so they live below both.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from provenance_ledger.schemas import jsonsafe
from provenance_ledger.schemas.events import CloudEvent, Fact

REASONS: dict[str, str] = {
    "empty_value": "the record has no value",
    "oversized": "the value is larger than the max_event_bytes setting",
    "malformed_json": "the value (or binary-mode data) is not JSON",
    "too_deep": "objects and arrays nest deeper than the ledger allows (64 levels)",
    "unsupported_content_type": "the content-type is neither CloudEvents JSON, JSON nor Avro",
    "missing_field": "a required attribute, header or data field is absent",
    "wrong_type": "a field has the wrong JSON/Avro type",
    "invalid_field": "a field has the right type but a value the contract forbids",
    "unknown_type": "the event type is neither ours nor a CDEvent",
    "invalid_cdevent": "a dev.cdevents.* event does not match its CDEvents JSON Schema",
    "truncated_avro": "the Avro single-object value ends early",
    "malformed_avro": "the value is not Avro single-object encoding or its body does not decode",
    "unknown_fingerprint": "no writer schema in schemas/avro/ has the value's fingerprint",
    "type_mismatch": "ce_type names another type than the Avro writer schema",
    "conflicting_duplicate": "(source, id) was already accepted with other content",
    "internal_error": "the ledger failed on this record (a bug): the detail names the error",
}


@dataclass(frozen=True)
class DecodedEvent:
    event: CloudEvent
    fact: Fact | None
    """The typed data when the type is projected; None for stored-only events."""

    @cached_property
    def canonical(self) -> bytes:
        return canonical_bytes(self.event)

    @cached_property
    def content_hash(self) -> str:
        return hashlib.sha256(self.canonical).hexdigest()


@dataclass(frozen=True)
class DecodeError:
    code: str
    detail: str


def canonical_bytes(event: CloudEvent) -> bytes:
    """Sorted-key compact JSON: the same event gives the same bytes whatever mode carried it.

    Hence ``datacontenttype`` (it names the wire encoding) is left out, nulls are dropped at
    every depth (Avro has no "absent"), and a whole float is written as an integer (a JSON
    ``50`` and an Avro double ``50.0`` are one number).
    """
    body = event.model_dump(mode="json", exclude_none=True, exclude={"datacontenttype"})
    return json.dumps(
        _normal(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def _normal(value: Any) -> Any:
    # Exact type checks: this runs on every field of every event (see bench/bench_decode.py).
    kind = type(value)
    if kind is dict:
        return {
            key: item if type(item) is str else _normal(item)
            for key, item in value.items()
            if item is not None
        }
    if kind is list:
        return [item if type(item) is str else _normal(item) for item in value]
    if kind is float and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if kind is int and value.bit_length() > jsonsafe.MAX_INT_BITS:
        raise OverflowError(f"an integer beyond a double's range: {value.bit_length()} bits")
    return value
