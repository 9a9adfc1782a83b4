"""Decoding, canonicalising and projecting are total (issue 12, item 1): any Kafka record
whatsoever becomes an event that has canonical bytes and projects, or a dead letter with a
reason; never an exception. Hypothesis feeds arbitrary bytes, arbitrary JSON and arbitrary
CloudEvents (surrogates, deep nesting, huge numbers, NaN, extreme times) through the real
decode_record -> canonical -> project path, in structured, binary JSON and Avro modes."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance_ledger.ledger.batch import decode_batch
from provenance_ledger.ledger.projection import Accepted, project
from provenance_ledger.schemas import avro, cdevents, codec
from provenance_ledger.schemas.codec import (
    REASONS,
    STRUCTURED,
    DecodedEvent,
    DecodeError,
    KafkaRecord,
)
from provenance_ledger.schemas.events import DATA_MODELS
from tests.support import hostile_events

EXAMPLES = Path(codec.__file__).resolve().parent / "examples"
EVENTS = {path.stem: json.loads(path.read_text()) for path in EXAMPLES.glob("*.json")}
CDEVENT_TYPES = [
    "dev.cdevents.service.deployed.0.2.0",
    "dev.cdevents.service.rolledback.0.2.0",
    "dev.cdevents.incident.detected.0.2.0",
    "dev.cdevents.incident.resolved.0.2.0",
    "dev.cdevents.artifact.packaged.0.2.0",
    "dev.cdevents.pipelinerun.queued.0.2.0",
]
EXAMPLES_OF = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


class Raw(str):
    """JSON text written as is: what json.dumps refuses to write (5,000 digits, 100k brackets)."""


def dumps(value: Any) -> str:
    if isinstance(value, Raw):
        return value
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    # json.dumps writes NaN/Infinity and escapes a lone surrogate as \udfff.
    return json.dumps(value)


surrogates = st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3)
texts = st.one_of(st.text(max_size=20), surrogates, st.text(max_size=5).map(lambda s: s + "\udfff"))
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=2**60, max_value=2**2000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(1, 6000).map(lambda n: Raw("9" * n)),
    st.sampled_from([Raw("1e99999"), Raw("-1e400"), Raw("NaN"), Raw("Infinity")]),
)
deep = st.one_of(st.integers(10, 2000), st.sampled_from([800, 100_000])).map(
    lambda n: Raw("[" * n + "]" * n if n % 2 else '{"a": ' * n + "null" + "}" * n)
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values = st.recursive(
    st.one_of(scalars, deep),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=12,
)
times = st.one_of(
    st.sampled_from(
        [
            "9999-12-31T23:59:59-01:00",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59.999999-23:59",
            "0001-01-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-11-20T12:00:00",
        ]
    ),
    st.datetimes(timezones=st.timezones()).map(lambda t: t.isoformat()),
    st.integers(-(2**70), 2**70),
    texts,
)


@st.composite
def cloudevents(draw: st.DrawFn) -> dict[str, Any]:
    """A valid example event of any type with some of its fields made hostile."""
    event = json.loads(json.dumps(EVENTS[draw(st.sampled_from(sorted(EVENTS)))]))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["envelope", "data", "extension", "time"]))
        if where == "time":
            event["time"] = draw(times)
        elif where == "envelope":
            event[draw(st.sampled_from(["id", "source", "subject", "type"]))] = draw(texts)
        elif where == "data":
            field = draw(st.sampled_from([*sorted(event["data"]), "extra"]))
            event["data"][field] = draw(json_values)
        else:
            event[draw(texts)] = draw(json_values)
    return event


@st.composite
def cdevents_of_any_shape(draw: st.DrawFn) -> dict[str, Any]:
    """A bare or wrapped CDEvent whose subject content holds anything at all."""
    event_type = draw(st.sampled_from(CDEVENT_TYPES))
    content = draw(
        st.one_of(
            json_values,
            st.dictionaries(
                st.sampled_from(["environment", "artifactId", "service", "description", "change"]),
                json_values,
            ),
        )
    )
    cdevent = {
        "context": {
            "version": "0.5.1",
            "id": draw(texts),
            "source": "test/cd",
            "type": event_type,
            "timestamp": draw(times),
        },
        "subject": {"id": draw(json_values), "content": content},
        "customData": draw(json_values),
    }
    if draw(st.booleans()):
        return cdevent
    return {
        "specversion": "1.0",
        "id": "cd-1",
        "source": "test/cd",
        "type": event_type,
        "time": "2026-11-20T12:00:00Z",
        "data": cdevent,
    }


@pytest.fixture(autouse=True, scope="module")
def _without_cdevents_schemas() -> Iterator[None]:
    # The official schemas are optional (and absent by default): CDEvents of any shape then
    # reach the projection, which must not break on them either.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cdevents, "schemas_folder", None)
        yield


def assert_total(record: KafkaRecord) -> DecodedEvent | DecodeError:
    result = codec.decode_record(record)
    if isinstance(result, DecodeError):
        assert result.code in REASONS and result.detail
        return result
    parsed = json.loads(result.canonical.decode("utf-8"), parse_constant=_not_json)
    assert isinstance(parsed, dict) and len(result.content_hash) == 64
    project([Accepted(0, result)])
    incoming, rejected = decode_batch([record], codec.DEFAULT_MAX_EVENT_BYTES)
    assert len(incoming) + len(rejected) == 1
    return result


def _not_json(name: str) -> None:
    raise AssertionError(f"canonical bytes hold {name}")


def structured(value: bytes) -> KafkaRecord:
    return KafkaRecord("t", 0, 0, None, value, (("content-type", STRUCTURED.encode()),))


headers = st.lists(
    st.tuples(
        st.one_of(
            st.sampled_from(
                [
                    "content-type",
                    "ce_specversion",
                    "ce_id",
                    "ce_source",
                    "ce_type",
                    "ce_time",
                    "ce_subject",
                    "ce_x",
                ]
            ),
            st.text(max_size=8),
        ),
        st.one_of(
            st.binary(max_size=30),
            st.sampled_from(
                [
                    b"application/avro",
                    STRUCTURED.encode(),
                    b"application/json",
                    b"1.0",
                    b"9999-12-31T23:59:59-01:00",
                    b"dev.provledger.service.deployed.v1",
                ]
            ),
        ),
    ),
    max_size=8,
)


@EXAMPLES_OF
@given(st.binary(max_size=300), headers)
def test_arbitrary_bytes_and_headers(value: bytes, record_headers: list) -> None:
    assert_total(KafkaRecord("t", 0, 0, None, value, tuple(record_headers)))


@EXAMPLES_OF
@given(json_values)
def test_arbitrary_json(value: Any) -> None:
    assert_total(structured(dumps(value).encode()))


@EXAMPLES_OF
@given(cloudevents())
def test_arbitrary_cloudevents(event: dict[str, Any]) -> None:
    assert_total(structured(dumps(event).encode()))


@EXAMPLES_OF
@given(cdevents_of_any_shape())
def test_arbitrary_cdevents(event: dict[str, Any]) -> None:
    assert_total(structured(dumps(event).encode()))


@EXAMPLES_OF
@given(st.sampled_from(sorted(DATA_MODELS)), json_values, times, st.binary(max_size=40))
def test_arbitrary_binary_mode(event_type: str, extra: Any, time: Any, tail: bytes) -> None:
    """Avro (with hostile ``_extra`` JSON, ce_time and bytes after the header) and JSON data."""
    example = EVENTS[event_type]
    decoded = codec.validate_event(example)
    assert isinstance(decoded, DecodedEvent)
    message_headers, value = avro.binary_message(decoded)
    hostile = [
        (key, str(time).encode("utf-8", "surrogatepass") if key == "ce_time" else raw)
        for key, raw in message_headers
    ]
    assert_total(KafkaRecord("t", 0, 0, None, value, tuple(hostile)))
    assert_total(KafkaRecord("t", 0, 0, None, value[:10] + tail, tuple(message_headers)))
    as_json = [(k, b"application/json" if k == "content-type" else v) for k, v in message_headers]
    data = dumps({**example["data"], "extra": extra}).encode("utf-8", "surrogatepass")
    assert_total(KafkaRecord("t", 0, 0, None, data, tuple(as_json)))
    writer = avro.default_registry().current[event_type]
    try:
        with_extra = avro.encode_with(writer, {**example["data"], "extra": _plain(extra)})
    except (ValueError, UnicodeEncodeError, RecursionError):
        return  # json.dumps/fastavro refuse to write it: no such record can exist
    assert_total(KafkaRecord("t", 0, 0, None, with_extra, tuple(message_headers)))


def _plain(value: Any) -> Any:
    """Raw JSON text as the Python value an Avro emitter would hold (huge ints, NaN, nesting)."""
    if isinstance(value, Raw):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return math.nan
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


@pytest.mark.parametrize("hostile", hostile_events.records(), ids=lambda h: h.name)
def test_each_reproduced_crasher_is_a_dead_letter_with_its_reason(hostile) -> None:
    result = assert_total(KafkaRecord("t", 0, 0, None, hostile.value, tuple(hostile.headers)))
    assert isinstance(result, DecodeError), hostile.name
    assert result.code == hostile.reason, result


def test_a_cdevent_whose_content_is_not_an_object_is_stored_not_projected() -> None:
    bare = {
        "context": {
            "id": "c1",
            "source": "cd",
            "type": CDEVENT_TYPES[0],
            "timestamp": "2026-11-20T12:00:00Z",
        },
        "subject": {"id": "checkout", "content": "prod"},
    }
    result = assert_total(structured(json.dumps(bare).encode()))
    assert isinstance(result, DecodedEvent)
    assert project([Accepted(0, result)]) == {}


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, [1, {"a": math.nan}]])
def test_non_finite_numbers_are_refused_not_dropped(value: Any) -> None:
    """From a Python caller (or an Avro double) NaN is a float, not text: it must be refused,
    not written as null and dropped from the canonical form."""
    example = EVENTS["dev.provledger.incident.resolved.v1"]
    for event in ({**example, "x": value}, {**example, "data": {**example["data"], "x": value}}):
        result = codec.validate_event(event)
        assert isinstance(result, DecodeError), result
        assert result.code == "invalid_field" and "not a JSON number" in result.detail
