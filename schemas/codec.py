"""Kafka record → validated event, or a typed reason why not.

One entry point, :func:`decode_record`, serves the ledger consumer; :func:`validate_event`
serves anything holding a parsed JSON object (the HTTP ingest endpoint, the CLI).

Content modes (CloudEvents Kafka binding, CONTRACT §2): ``content-type:
application/cloudevents+json`` is structured mode; a ``ce_specversion`` (or ``ce_type``)
header means binary mode, with Avro (``application/avro``, see :mod:`schemas.avro`) or JSON
data; a value with neither that parses as JSON is taken as structured mode.

Decoding is total: any record whatsoever becomes a :class:`DecodedEvent` whose canonical bytes
are already built, or a :class:`DecodeError` whose ``code`` is one of :data:`REASONS`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pydantic import ValidationError

from provenance_ledger.schemas import cdevents, jsonsafe
from provenance_ledger.schemas.events import DATA_MODELS, CloudEvent, Fact
from provenance_ledger.schemas.limits import DEFAULT_MAX_EVENT_BYTES

STRUCTURED = "application/cloudevents+json"
BINARY_REQUIRED = ("specversion", "id", "source", "type", "time")

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
class KafkaRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    @cached_property
    def header_map(self) -> dict[str, str]:
        """Headers by lower-case name (the first of repeated ones), decoded once per record."""
        found: dict[str, str] = {}
        for key, raw in reversed(self.headers):
            if raw is not None:
                found[key.lower()] = raw.decode("utf-8", errors="replace")
        return found

    def header(self, name: str) -> str | None:
        return self.header_map.get(name)


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


def _reason_from_validation(exc: ValidationError, where: str) -> DecodeError:
    first = exc.errors()[0]
    location = ".".join(str(part) for part in (where, *first["loc"]) if part != "")
    code = "missing_field" if first["type"] == "missing" else "invalid_field"
    if first["type"].endswith("_type") or first["type"].endswith("_parsing"):
        code = "wrong_type"
    return DecodeError(code, f"{location}: {first['msg']}")


def validate_event(obj: Any) -> DecodedEvent | DecodeError:
    """Validate a parsed JSON object as one of our events or a CDEvent (wrapped or bare)."""
    if not isinstance(obj, dict):
        return DecodeError("wrong_type", f"an event is a JSON object, not {type(obj).__name__}")
    unfit = jsonsafe.depth_problem(obj)
    if unfit is not None:
        return DecodeError(unfit.code, unfit.detail)
    decoded = _validated(obj)
    return decoded if isinstance(decoded, DecodeError) else _with_canonical(decoded, obj)


def _with_canonical(decoded: DecodedEvent, obj: dict[str, Any]) -> DecodedEvent | DecodeError:
    """Build the canonical bytes now, so that an event that has none (a lone surrogate, NaN, a
    number beyond a double) is a bad event here, not an exception in the ledger's writer."""
    try:
        decoded.canonical  # noqa: B018 (cached on the event)
    except (ValueError, TypeError, OverflowError) as exc:
        where = jsonsafe.problem(obj)
        if where is not None:
            return DecodeError(where.code, where.detail)
        return DecodeError("invalid_field", f"the event has no canonical JSON form: {exc}")
    return decoded


def _validated(obj: dict[str, Any]) -> DecodedEvent | DecodeError:
    bare = cdevents.is_bare(obj)
    if bare:
        # Checked before wrapping, so a reason names the CDEvent's own fields.
        problem = cdevents.validate(obj)
        if problem is not None:
            return DecodeError("invalid_cdevent", problem)
        obj = cdevents.wrap(obj)
    try:
        event = CloudEvent.model_validate(obj)
    except ValidationError as exc:
        return _reason_from_validation(exc, "")
    if cdevents.is_cdevent_type(event.type):
        problem = None if bare else cdevents.validate(event.data, event.type)
        if problem is not None:
            return DecodeError("invalid_cdevent", problem)
        return DecodedEvent(event, None)
    model = DATA_MODELS.get(event.type)
    if model is None:
        return DecodeError("unknown_type", f"unknown event type {event.type!r}")
    if event.data is None:
        return DecodeError("missing_field", "data: required for this type")
    try:
        fact = model.model_validate(event.data)
    except ValidationError as exc:
        return _reason_from_validation(exc, "data")
    return DecodedEvent(event, fact)


def decode_json(value: bytes) -> DecodedEvent | DecodeError:
    try:
        obj = jsonsafe.loads(value)
    except jsonsafe.JsonProblem as exc:
        return DecodeError(exc.code, exc.detail)
    return validate_event(obj)


def binary_envelope(record: KafkaRecord) -> dict[str, Any] | DecodeError:
    """The CloudEvents attributes of a binary-mode record, from its ``ce_*`` headers."""
    attributes = {
        name[3:]: value for name, value in record.header_map.items() if name.startswith("ce_")
    }
    for name in BINARY_REQUIRED:
        if not attributes.get(name):
            return DecodeError("missing_field", f"binary mode needs the header ce_{name}")
    return attributes


def _decode_binary_json(record: KafkaRecord) -> DecodedEvent | DecodeError:
    envelope = binary_envelope(record)
    if isinstance(envelope, DecodeError):
        return envelope
    try:
        data = jsonsafe.loads(record.value or b"", "binary-mode data")
    except jsonsafe.JsonProblem as exc:
        return DecodeError(exc.code, exc.detail)
    return validate_event({**envelope, "data": data})


def decode_record(
    record: KafkaRecord, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
) -> DecodedEvent | DecodeError:
    value = record.value
    if value is None or len(value) == 0:
        return DecodeError("empty_value", "the record has no value")
    if len(value) > max_event_bytes:
        return DecodeError(
            "oversized", f"value is {len(value)} bytes; the limit is {max_event_bytes}"
        )
    content_type = (record.header("content-type") or "").split(";")[0].strip().lower()
    binary = record.header("ce_specversion") is not None or record.header("ce_type") is not None
    if content_type == STRUCTURED or (not binary and content_type in ("", "application/json")):
        return decode_json(value)
    if content_type == "application/avro":
        from provenance_ledger.schemas import avro

        return avro.decode_binary(record)
    if binary and (content_type in ("", "application/json") or content_type.endswith("+json")):
        return _decode_binary_json(record)
    return DecodeError("unsupported_content_type", f"content-type {content_type!r}")
