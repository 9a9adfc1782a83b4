"""Kafka record → validated event, or a typed reason why not.

Every way in ends in the one validation step, :func:`validate_event`: the HTTP ingest endpoint
and the CLI call it with a parsed JSON object; :func:`decode_record`, for the ledger consumer,
first gets that object out of the record according to its content mode (CloudEvents Kafka
binding, CONTRACT §2), decided in one place, :func:`content_mode`:

- structured: ``content-type: application/cloudevents+json``, or a value with no ``ce_*``
  headers and no (or a JSON) content-type: the value is the whole event;
- binary with Avro data: ``content-type: application/avro``; the ``ce_*`` headers carry the
  attributes and :mod:`schemas.avro` reads the value;
- binary with JSON data: a ``ce_specversion`` (or ``ce_type``) header and a JSON content-type.

Whichever mode carried it, a CDEvent (bare or wrapped in a CloudEvent) is recognised by
:func:`validate_event`.

Decoding is total: any record whatsoever becomes a :class:`DecodedEvent` whose canonical bytes
are already built, or a :class:`DecodeError` whose ``code`` is one of :data:`REASONS`.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, NamedTuple

from pydantic import ValidationError

from provenance_ledger.schemas import avro, cdevents, jsonsafe
from provenance_ledger.schemas.decoded import (
    REASONS,
    DecodedEvent,
    DecodeError,
    TooDeep,
    canonical_bytes,
    canonical_of_body,
    normal_body,
    once,
    verbatim_canonical,
)
from provenance_ledger.schemas.events import DATA_MODELS, CloudEvent
from provenance_ledger.schemas.limits import DEFAULT_MAX_EVENT_BYTES

# The codec's interface: what it returns is defined in schemas/decoded.py.
__all__ = [
    "BINARY_REQUIRED",
    "DEFAULT_MAX_EVENT_BYTES",
    "REASONS",
    "STRUCTURED",
    "ContentMode",
    "DecodeError",
    "DecodedEvent",
    "KafkaRecord",
    "binary_envelope",
    "canonical_bytes",
    "content_mode",
    "decode_record",
    "validate_event",
]

STRUCTURED = "application/cloudevents+json"
BINARY_REQUIRED = ("specversion", "id", "source", "type", "time")


class ContentMode(Enum):
    STRUCTURED = "structured"
    BINARY_AVRO = "binary mode, Avro data"
    BINARY_JSON = "binary mode, JSON data"


class _RecordFields(NamedTuple):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


class KafkaRecord(_RecordFields):
    """One Kafka record, as the consumer read it. A tuple rather than a frozen dataclass: the
    consumer's thread makes one per record, and a frozen dataclass sets each field through
    ``object.__setattr__`` (``ledger.batch.to_record`` took 1.1 µs a record, now 0.6). No
    ``__slots__``: ``header_map`` is kept in the instance's ``__dict__``."""

    @once
    def header_map(self) -> dict[str, str]:
        """Headers by lower-case name (the first of repeated ones), decoded once per record."""
        found: dict[str, str] = {}
        for key, raw in reversed(self.headers):
            if raw is not None:
                found[key.lower()] = raw.decode("utf-8", errors="replace")
        return found

    def header(self, name: str) -> str | None:
        return self.header_map.get(name)


def decode_record(
    record: KafkaRecord,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    registry: avro.Registry | None = None,
) -> DecodedEvent | DecodeError:
    """``registry``: the Avro writer schemas (default: those under schemas/avro/)."""
    value = record.value
    if value is None or len(value) == 0:
        return DecodeError("empty_value", "the record has no value")
    if len(value) > max_event_bytes:
        return DecodeError(
            "oversized", f"value is {len(value)} bytes; the limit is {max_event_bytes}"
        )
    obj, plain = event_object(record, value, registry)
    return obj if isinstance(obj, DecodeError) else validate_event(obj, plain=plain)


def content_mode(record: KafkaRecord) -> ContentMode | DecodeError:
    headers = record.header_map
    content_type = (headers.get("content-type") or "").split(";")[0].strip().lower()
    binary = "ce_specversion" in headers or "ce_type" in headers
    if content_type == STRUCTURED or (not binary and content_type in ("", "application/json")):
        return ContentMode.STRUCTURED
    if content_type == avro.AVRO:
        return ContentMode.BINARY_AVRO
    if binary and (content_type in ("", "application/json") or content_type.endswith("+json")):
        return ContentMode.BINARY_JSON
    return DecodeError("unsupported_content_type", f"content-type {content_type!r}")


def event_object(
    record: KafkaRecord, value: bytes, registry: avro.Registry | None
) -> tuple[Any, bool]:
    """The parsed JSON the record carries as its event (not yet validated), or a DecodeError;
    and whether it is known to be plain (``jsonsafe.loads_plain``, see validate_event)."""
    mode = content_mode(record)
    if isinstance(mode, DecodeError):
        return mode, False
    if mode is ContentMode.STRUCTURED:
        return _parsed_json(value, "value", jsonsafe.MAX_DEPTH)
    envelope = binary_envelope(record)
    if isinstance(envelope, DecodeError):
        return envelope, False
    if mode is ContentMode.BINARY_AVRO:
        data, plain = avro.read_data(value, envelope["type"], registry)
    else:
        # The data is one level below the envelope, whose attributes are strings.
        data, plain = _parsed_json(value, "binary-mode data", jsonsafe.MAX_DEPTH - 1)
    if isinstance(data, DecodeError):
        return data, False
    return {**envelope, "data": data}, plain


def binary_envelope(record: KafkaRecord) -> dict[str, Any] | DecodeError:
    """The CloudEvents attributes of a binary-mode record, from its ``ce_*`` headers."""
    attributes = {
        name[3:]: value for name, value in record.header_map.items() if name.startswith("ce_")
    }
    for name in BINARY_REQUIRED:
        if not attributes.get(name):
            return DecodeError("missing_field", f"binary mode needs the header ce_{name}")
    return attributes


def _parsed_json(value: bytes, what: str, limit: int) -> tuple[Any, bool]:
    """The parsed value (or a DecodeError), and whether it is plain at ``limit``."""
    parsed = jsonsafe.loads_plain(value, limit)
    if parsed is not jsonsafe.UNSURE:
        return parsed, True
    try:
        return jsonsafe.loads(value, what), False
    except jsonsafe.JsonProblem as exc:
        return DecodeError(exc.code, exc.detail), False


def validate_event(obj: Any, *, plain: bool = False) -> DecodedEvent | DecodeError:
    """Validate a parsed JSON object as one of our events or a CDEvent (wrapped or bare).

    ``plain``: the caller knows ``obj`` is plain (``jsonsafe.loads_plain``, or Avro data read
    by ``avro._plain_from_avro`` below string attributes): not too deep, and
    as the walk that bounds the nesting would leave it, so it is not walked; its canonical
    bytes are written from it as it is (:func:`verbatim_canonical`)."""
    if not isinstance(obj, dict):
        return DecodeError("wrong_type", f"an event is a JSON object, not {type(obj).__name__}")
    body = None if plain else _walked(obj)
    if isinstance(body, DecodeError):
        return body
    decoded = _validated(obj)
    if isinstance(decoded, DecodeError):
        return decoded
    if cdevents.is_bare(obj):
        return _with_canonical(decoded, obj)
    if plain:
        canonical = verbatim_canonical(obj, decoded.event)
        if canonical is not None:
            return decoded.with_canonical(canonical)
        body = _walked(obj)
        if isinstance(body, DecodeError):
            return body
    if body is not None:
        decoded = _fast_canonical(decoded, body)
    return _with_canonical(decoded, obj)


def _walked(obj: dict[str, Any]) -> dict[str, Any] | DecodeError | None:
    """:func:`normal_body` of ``obj``, the walk that bounds its nesting and readies the
    canonical form; None when it holds an integer beyond a double (reported once the event is
    otherwise valid, as before: the walk stopped early, so the nesting is bounded here)."""
    try:
        return normal_body(obj)
    except TooDeep as exc:
        return DecodeError("too_deep", str(exc))
    except OverflowError:
        unfit = jsonsafe.depth_problem(obj)
        return None if unfit is None else DecodeError(unfit.code, unfit.detail)


def _fast_canonical(decoded: DecodedEvent, body: dict[str, Any]) -> DecodedEvent:
    """The canonical bytes from the walked body; left to :func:`_with_canonical` to build
    (and report) when the body has none (NaN, a lone surrogate)."""
    try:
        return decoded.with_canonical(canonical_of_body(body, decoded.event))
    except (ValueError, TypeError):
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
    return _with_fact(event)


def _with_fact(event: CloudEvent) -> DecodedEvent | DecodeError:
    """One of our events: its data validated by the model of its type."""
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


def _reason_from_validation(exc: ValidationError, where: str) -> DecodeError:
    first = exc.errors()[0]
    location = ".".join(str(part) for part in (where, *first["loc"]) if part != "")
    code = "missing_field" if first["type"] == "missing" else "invalid_field"
    if first["type"].endswith("_type") or first["type"].endswith("_parsing"):
        code = "wrong_type"
    return DecodeError(code, f"{location}: {first['msg']}")
