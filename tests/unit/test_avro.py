"""CloudEvents binary mode with Avro single-object encoding."""

from __future__ import annotations

import io
import json
from pathlib import Path

import fastavro
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from provenance_ledger.schemas import avro
from provenance_ledger.schemas.codec import (
    DecodedEvent,
    DecodeError,
    KafkaRecord,
    decode_record,
    validate_event,
)
from provenance_ledger.schemas.events import DATA_MODELS, ChangeAuthored
from tests.support.examples import decoded, example, record


def test_fingerprint_matches_the_avro_spec_vector() -> None:
    # The Avro specification's CRC-64-AVRO test vector: "null" → 7195948357588979594.
    found = avro.fingerprint_of("null")  # type: ignore[arg-type]
    assert int.from_bytes(found, "little", signed=True) == 7195948357588979594


@pytest.mark.parametrize("event_type", sorted(DATA_MODELS))
def test_binary_round_trip_of_every_type(event_type: str) -> None:
    original = decoded(example(event_type))
    headers, value = avro.binary_message(original)
    names = dict(headers)
    assert names["content-type"] == b"application/avro"
    assert names["ce_specversion"] == b"1.0"
    assert names["ce_type"] == event_type.encode()
    assert names["ce_id"] == original.event.id.encode()
    assert names["ce_source"] == original.event.source.encode()
    assert names["ce_time"]
    assert value[:2] == b"\xc3\x01"
    assert value[2:10] == avro.default_registry().current[event_type].fingerprint
    back = decode_record(record(headers, value))
    assert isinstance(back, DecodedEvent), back
    assert back.fact == original.fact
    assert back.event.subject == original.event.subject
    assert back.canonical == original.canonical


@pytest.mark.parametrize("event_type", sorted(DATA_MODELS))
def test_same_canonical_bytes_from_avro_and_json(event_type: str) -> None:
    """The content hash (dedup, Merkle leaf) cannot depend on the mode that carried it."""
    from provenance_ledger.producers.emitter import structured_message

    original = decoded(example(event_type))
    via_avro = decode_record(record(*avro.binary_message(original)))
    via_json = decode_record(record(*structured_message(original)))
    assert isinstance(via_avro, DecodedEvent) and isinstance(via_json, DecodedEvent)
    assert via_avro.canonical == via_json.canonical
    assert via_avro.content_hash == via_json.content_hash


def test_null_optionals_and_whole_floats_hash_alike() -> None:
    obj = example("dev.provledger.service.deployed.v1")
    obj["data"] |= {"fleet_percent": 50, "region": None}
    from_json = decoded(obj)
    via_avro = decode_record(record(*avro.binary_message(from_json)))
    assert isinstance(via_avro, DecodedEvent)
    assert via_avro.event.data["fleet_percent"] == 50.0
    assert "region" not in via_avro.event.data
    assert via_avro.canonical == from_json.canonical


def test_unknown_fields_are_kept_through_avro_at_every_depth() -> None:
    obj = example("dev.provledger.change.authored.v1")
    obj["data"]["ticket"] = {"key": "SHOP-12", "labels": ["perf", None], "score": 0.5}
    obj["data"]["author"]["email_verified"] = True
    obj["data"]["ai"][0]["prompt_tokens"] = 1200
    obj["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    original = decoded(obj)
    headers, value = avro.binary_message(original)
    assert ("ce_traceparent", obj["traceparent"].encode()) in headers
    back = decode_record(record(headers, value))
    assert isinstance(back, DecodedEvent), back
    assert back.event.data["ticket"] == obj["data"]["ticket"]
    assert back.fact.author.model_extra == {"email_verified": True}
    assert back.fact.ai[0].model_extra == {"prompt_tokens": 1200}
    assert back.event.extensions == {"traceparent": obj["traceparent"]}
    assert back.canonical == original.canonical


def test_unknown_keys_only_a_null_holds_are_left_out_of_avro() -> None:
    """JSON may escape a lone surrogate, which no encoding takes. Under a null, canonical
    bytes drop the key; ``_extra`` wrote it, fastavro could not encode the text, and the
    emitter fell back to JSON."""
    obj = example("dev.provledger.config.changed.v1")
    obj["data"]["extra"] = {"\ud800": None, "kept": {"\udc80": None, "n": 1}}
    original = decoded(obj)
    headers, value = avro.binary_message(original)
    assert ("content-type", b"application/avro") in headers
    back = decode_record(record(headers, value))
    assert isinstance(back, DecodedEvent), back
    assert back.event.data["extra"] == {"kept": {"n": 1}}
    assert back.canonical == original.canonical


def test_a_cdevent_in_binary_mode_carries_json_data(cdevents_dir: Path) -> None:
    bare = json.loads((cdevents_dir / "conformance" / "service_deployed.json").read_text())
    original = decoded(bare)
    headers, value = avro.binary_message(original)
    assert dict(headers)["content-type"] == b"application/json"
    back = decode_record(record(headers, value))
    assert isinstance(back, DecodedEvent), back
    assert back.canonical == original.canonical


def avro_record(event_type: str = "dev.provledger.incident.opened.v1") -> KafkaRecord:
    headers, value = avro.binary_message(decoded(example(event_type)))
    return record(headers, value)


def reason(rec: KafkaRecord) -> DecodeError:
    result = decode_record(rec)
    assert isinstance(result, DecodeError), result
    return result


@pytest.mark.parametrize("cut", [1, 5, 10, 11, 20, -1])
def test_truncated_avro(cut: int) -> None:
    good = avro_record()
    assert reason(good._replace(value=good.value[:cut])).code == ("truncated_avro")


def test_unknown_fingerprint() -> None:
    good = avro_record()
    value = good.value[:2] + bytes(8) + good.value[10:]
    error = reason(good._replace(value=value))
    assert error.code == "unknown_fingerprint"
    assert "0000000000000000" in error.detail


def test_no_single_object_marker() -> None:
    good = avro_record()
    value = b"\x00\x01" + good.value[2:]
    assert reason(good._replace(value=value)).code == "malformed_avro"


def test_trailing_bytes_after_the_body() -> None:
    good = avro_record()
    value = good.value + b"\x00\x00"
    assert reason(good._replace(value=value)).code == "malformed_avro"


def test_ce_type_must_match_the_writer_schema() -> None:
    good = avro_record()
    headers = [
        (k, b"dev.provledger.incident.resolved.v1" if k == "ce_type" else v)
        for k, v in good.headers
    ]
    assert reason(good._replace(headers=tuple(headers))).code == ("type_mismatch")


@pytest.mark.parametrize("header", ["ce_id", "ce_source", "ce_time", "ce_type"])
def test_binary_mode_needs_its_headers(header: str) -> None:
    good = avro_record()
    headers = tuple((k, v) for k, v in good.headers if k != header)
    error = reason(good._replace(headers=headers))
    assert error.code == "missing_field"
    assert header in error.detail


def test_invalid_values_inside_valid_avro_are_refused() -> None:
    """Avro cannot say "40 hex characters"; the model still does."""
    obj = example("dev.provledger.change.reviewed.v1")
    good = decoded(obj)
    writer = avro.default_registry().current[good.event.type]
    bad_data = {**obj["data"], "commit": "not-a-sha"}
    headers, _ = avro.binary_message(good)
    error = reason(record(headers, avro.encode_with(writer, bad_data)))
    assert error.code == "invalid_field"
    assert "data.commit" in error.detail


def test_extra_must_be_a_json_object() -> None:
    obj = example("dev.provledger.incident.resolved.v1")
    good = decoded(obj)
    writer = avro.default_registry().current[good.event.type]
    body = io.BytesIO()
    fastavro.schemaless_writer(
        body, writer.parsed, {"incident": "INC-1", "resolved_at": None, "_extra": "[1]"}
    )
    headers, _ = avro.binary_message(good)
    value = b"\xc3\x01" + writer.fingerprint + body.getvalue()
    assert reason(record(headers, value)).code == "malformed_avro"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
extra_fields = st.dictionaries(
    st.text(min_size=1, max_size=8).filter(lambda key: key not in ChangeAuthored.model_fields),
    json_values,
    max_size=3,
)


@settings(max_examples=80, deadline=None)
@given(top=extra_fields, author=extra_fields.filter(lambda d: "id" not in d and "name" not in d))
def test_any_unknown_fields_hash_alike_in_both_modes(top: dict, author: dict) -> None:
    obj = example("dev.provledger.change.authored.v1")
    obj["data"] = {**top, **obj["data"]}
    obj["data"]["author"] = {**author, **obj["data"]["author"]}
    original = validate_event(obj)
    assume(isinstance(original, DecodedEvent))
    back = decode_record(record(*avro.binary_message(original)))
    assert isinstance(back, DecodedEvent), back
    assert back.canonical == original.canonical
