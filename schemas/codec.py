"""Kafka record → validated event, or a typed reason why not.

One entry point, :func:`decode_record`, serves the ledger consumer; :func:`validate_event`
serves anything holding a parsed JSON object (the HTTP ingest endpoint, the CLI).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from schemas import cdevents
from schemas.events import DATA_MODELS, CloudEvent, Fact

STRUCTURED = "application/cloudevents+json"
DEFAULT_MAX_EVENT_BYTES = 1024 * 1024


@dataclass(frozen=True)
class KafkaRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    def header(self, name: str) -> str | None:
        for key, raw in self.headers:
            if key.lower() == name and raw is not None:
                return raw.decode("utf-8", errors="replace")
        return None


@dataclass(frozen=True)
class DecodedEvent:
    event: CloudEvent
    fact: Fact | None
    """The typed data when the type is projected; None for stored-only events."""

    @property
    def canonical(self) -> bytes:
        return canonical_bytes(self.event)

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.canonical).hexdigest()


@dataclass(frozen=True)
class DecodeError:
    code: str
    detail: str


def canonical_bytes(event: CloudEvent) -> bytes:
    """Sorted-key compact JSON: the same event gives the same bytes whatever mode carried it."""
    body = event.model_dump(mode="json", exclude_none=True)
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


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
    if cdevents.is_bare(obj):
        obj = cdevents.wrap(obj)
    try:
        event = CloudEvent.model_validate(obj)
    except ValidationError as exc:
        return _reason_from_validation(exc, "")
    if cdevents.is_cdevent_type(event.type):
        problem = cdevents.validate(event.data)
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
        obj = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return DecodeError("malformed_json", f"value is not JSON: {exc}")
    return validate_event(obj)


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
    if content_type in ("", STRUCTURED, "application/json") and record.header("ce_type") is None:
        return decode_json(value)
    if content_type == "application/avro":
        from schemas import avro

        return avro.decode_binary(record)
    return DecodeError("unsupported_content_type", f"content-type {content_type!r}")
