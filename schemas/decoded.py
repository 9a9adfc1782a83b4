"""What decoding gives: a :class:`DecodedEvent` whose canonical bytes are built on demand, or
a :class:`DecodeError` whose ``code`` is one of :data:`REASONS`.

Both sides of the codec use these (:mod:`schemas.codec` decides, :mod:`schemas.avro` reads and
writes Avro bodies), so they live below both.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Self, TypeVar, overload

import msgspec
from pydantic import TypeAdapter

from provenance_ledger.schemas import jsonsafe
from provenance_ledger.schemas.events import CloudEvent, Fact

Owner = TypeVar("Owner")
Value = TypeVar("Value")


class once(Generic[Owner, Value]):
    """``functools.cached_property`` without its lock: Python 3.11 takes one on every first
    read, about 1 µs, and ingest reads three such properties per event. Two threads reading
    at once may both compute the value, which is the same."""

    def __init__(self, compute: Callable[[Owner], Value]) -> None:
        self._compute, self._name = compute, compute.__name__

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> Self: ...
    @overload
    def __get__(self, instance: Owner, owner: type | None = None) -> Value: ...
    def __get__(self, instance: Owner | None, owner: type | None = None) -> Self | Value:
        if instance is None:
            return self
        value = self._compute(instance)
        # A non-data descriptor: from now on the instance's own attribute answers.
        instance.__dict__[self._name] = value
        return value


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

    @once
    def canonical(self) -> bytes:
        return canonical_bytes(self.event)

    @once
    def content_hash(self) -> str:
        return hashlib.sha256(self.canonical).hexdigest()

    def with_canonical(self, canonical: bytes) -> DecodedEvent:
        """This event with its canonical bytes already built (by :func:`canonical_of_body`)."""
        self.__dict__["canonical"] = canonical
        return self


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
    return _dumps(_normal(body))


class TooDeep(ValueError):
    """Objects and arrays nest deeper than :data:`jsonsafe.MAX_DEPTH`."""


def normal_body(obj: dict[str, Any]) -> dict[str, Any]:
    """The parsed event ``obj`` as :func:`canonical_bytes` writes it (nulls dropped, whole
    floats as integers) but for ``time`` and ``datacontenttype``: the validated event's
    :func:`canonical_of_body` sets those. One walk, which also bounds the nesting (raises
    TooDeep as ``jsonsafe.depth_problem`` finds it) and never recurses deeper than that.
    Raises OverflowError for an integer beyond a double's range."""
    return _normal_bounded(obj, 1)


def canonical_of_body(body: dict[str, Any], event: CloudEvent) -> bytes:
    """:func:`canonical_bytes` of ``event`` from its :func:`normal_body`, without dumping the
    model: the envelope and data pass validation unchanged, except ``time`` (to UTC)."""
    body = dict(body)
    body.pop("datacontenttype", None)
    body["time"] = _TIME.dump_python(event.time, mode="json")
    return _dumps(body)


_TIME = TypeAdapter(datetime)
# msgspec writes strings, integers, true/false, objects and arrays exactly as _dumps does (sorted
# keys, no spaces, UTF-8, the same escapes; tests/unit/test_verbatim_canonical.py), in C. It
# spells floats otherwise ("1e16" for "1e+16"), which plain values do not hold.
_ENCODER = msgspec.json.Encoder(order="sorted")


def verbatim_canonical(obj: dict[str, Any], event: CloudEvent) -> bytes | None:
    """:func:`canonical_of_body` of ``normal_body(obj)`` for a *plain* ``obj`` (JSON values, no
    null, no float, integers below 64 bits: ``jsonsafe.loads_plain``, or Avro's
    ``avro._plain_from_avro``), which the walk would
    leave as it is, so it is not walked. None if it has no canonical bytes (then the walk's
    path says why)."""
    body = dict(obj)
    body.pop("datacontenttype", None)
    body["time"] = _TIME.dump_python(event.time, mode="json")
    try:
        return _ENCODER.encode(body)
    except (ValueError, TypeError, OverflowError):
        return None


def canonical_text(value: Any) -> str:
    """A JSON value of an event, as the event's canonical bytes write it (nulls dropped from
    objects, whole floats as integers, sorted keys, no spaces), as text. Read from the value
    itself, not from the model: a key that only a null holds (dropped here) may be text no
    encoding takes, such as a lone surrogate."""
    return _text(_normal(value))


def _dumps(body: dict[str, Any]) -> bytes:
    return _text(body).encode()


def _text(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _normal_bounded(value: Any, depth: int) -> Any:
    # _normal's walk for a container at ``depth`` (the event itself is 1).
    if depth > jsonsafe.MAX_DEPTH:
        raise TooDeep(f"the event nests objects/arrays deeper than {jsonsafe.MAX_DEPTH}")
    deeper = depth + 1
    if type(value) is dict:
        return {
            key: item if type(item) is str else _normal_leaf(item, deeper)
            for key, item in value.items()
            if item is not None
        }
    return [item if type(item) is str else _normal_leaf(item, deeper) for item in value]


def is_whole(value: float) -> bool:
    """Whether canonical bytes write ``value`` as an integer: a whole float a double holds
    exactly (below 2**53)."""
    return value.is_integer() and abs(value) < 2**53


def _normal_leaf(value: Any, depth: int) -> Any:
    kind = type(value)
    if kind is dict or kind is list:
        return _normal_bounded(value, depth)
    if kind is float and is_whole(value):
        return int(value)
    if kind is int and value.bit_length() > jsonsafe.MAX_INT_BITS:
        raise OverflowError(f"an integer beyond a double's range: {value.bit_length()} bits")
    return value


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
    if kind is float and is_whole(value):
        return int(value)
    if kind is int and value.bit_length() > jsonsafe.MAX_INT_BITS:
        raise OverflowError(f"an integer beyond a double's range: {value.bit_length()} bits")
    return value
