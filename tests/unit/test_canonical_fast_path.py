"""The codec builds an event's canonical bytes from the parsed JSON it walked anyway, not by
dumping the validated model (issue #18: CPU per ingested event). Those bytes are hashed into
the Merkle log and compared for deduplication, so they must be exactly what
``canonical_bytes(event)`` (the model's dump) gives, whatever the event and its wire format."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance_ledger.producers.emitter import encode_message
from provenance_ledger.schemas.codec import (
    DecodedEvent,
    DecodeError,
    KafkaRecord,
    canonical_bytes,
    decode_record,
    validate_event,
)
from tests.support import eventmix, hostile_events
from tests.support.examples import example


def _record(headers: list[tuple[str, bytes]], value: bytes) -> KafkaRecord:
    return KafkaRecord("provenance.events", 0, 0, None, value, tuple(headers))


def test_the_event_mix_has_the_model_canonical_bytes_in_both_formats() -> None:
    for fmt in ("json", "avro"):
        for original in eventmix.events(300, seed=7):
            decoded = decode_record(_record(*encode_message(original, fmt)))
            assert isinstance(decoded, DecodedEvent), decoded
            assert decoded.canonical == canonical_bytes(decoded.event)
            assert decoded.canonical == original.canonical


def test_every_example_with_nulls_whole_floats_and_an_encoding_attribute() -> None:
    for event_type in ("service.deployed", "config.changed", "incident.opened"):
        obj = example(f"dev.provledger.{event_type}.v1")
        obj = {**obj, "datacontenttype": "application/json", "subject": None, "ext": [1.0, None]}
        obj["data"] = {**obj["data"], "fleet_percent": 50.0, "unknown": {"a": None, "b": 2.5}}
        decoded = validate_event(obj)
        assert isinstance(decoded, DecodedEvent), decoded
        assert decoded.canonical == canonical_bytes(decoded.event)
        assert b'"fleet_percent":50,' in decoded.canonical
        assert b"null" in decoded.canonical  # kept inside a list, as the model's dump keeps it


JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=20,
)


@st.composite
def times(draw: st.DrawFn) -> str:
    """RFC 3339 times at any offset, with or without (and with any length of) fractions."""
    instant = draw(st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30)))
    offset = timedelta(minutes=draw(st.integers(-14 * 60, 14 * 60)))
    text = instant.replace(tzinfo=timezone(offset)).isoformat()
    return text.replace("+00:00", "Z") if draw(st.booleans()) else text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    time=times(),
    extensions=st.dictionaries(st.from_regex(r"\A[a-z]{1,8}\Z"), JSON_VALUES, max_size=3),
    extra=st.dictionaries(st.from_regex(r"\Ax[a-z]{0,6}\Z"), JSON_VALUES, max_size=4),
)
def test_any_valid_event_has_the_model_canonical_bytes(
    time: str, extensions: dict[str, Any], extra: dict[str, Any]
) -> None:
    obj = {**extensions, **example("dev.provledger.incident.resolved.v1", **extra)}
    obj["time"] = time
    for value in (json.dumps(obj).encode(), json.dumps(obj, indent=1).encode()):
        decoded = decode_record(_record([], value))
        if isinstance(decoded, DecodedEvent):
            assert decoded.canonical == canonical_bytes(decoded.event)
        else:
            # Only what the model refuses too: a time out of range once in UTC.
            assert decoded.code == "invalid_field", decoded


def test_hostile_records_decode_as_before() -> None:
    """Each hostile record still gets its reason; any it lets through has the model's bytes."""
    for hostile in hostile_events.records():
        decoded = decode_record(_record(list(hostile.headers), hostile.value))
        if isinstance(decoded, DecodeError):
            assert decoded.code == hostile.reason, (hostile.name, decoded)
        else:
            assert decoded.canonical == canonical_bytes(decoded.event), hostile.name


def test_a_huge_integer_under_a_too_deep_value_is_too_deep() -> None:
    obj = example("dev.provledger.incident.resolved.v1")
    deep: Any = 1
    for _ in range(70):
        deep = [deep]
    obj["data"] = {**obj["data"], "a": 2**2000, "z": deep}
    result = validate_event(obj)
    assert isinstance(result, DecodeError) and result.code == "too_deep", result


def test_a_time_in_another_offset_is_written_in_utc() -> None:
    obj = example("dev.provledger.incident.resolved.v1")
    obj["time"] = "2026-11-01T10:30:00.250+02:00"
    decoded = validate_event(obj)
    assert isinstance(decoded, DecodedEvent), decoded
    assert decoded.event.time == datetime(2026, 11, 1, 8, 30, 0, 250000, tzinfo=UTC)
    assert b'"time":"2026-11-01T08:30:00.250000Z"' in decoded.canonical
