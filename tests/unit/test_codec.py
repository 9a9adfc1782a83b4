"""Structured mode, content-type routing and the typed reasons for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provenance_ledger.ledger.batch import decode_batch
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.producers.emitter import encode_message, structured_message
from provenance_ledger.schemas import codec
from provenance_ledger.schemas.codec import (
    DEFAULT_MAX_EVENT_BYTES,
    REASONS,
    STRUCTURED,
    DecodedEvent,
    DecodeError,
    KafkaRecord,
    decode_record,
    validate_event,
)
from provenance_ledger.schemas.events import DATA_MODELS

EXAMPLES = Path(codec.__file__).resolve().parent / "examples"


def example(event_type: str = "dev.provledger.change.authored.v1") -> dict:
    return json.loads((EXAMPLES / f"{event_type}.json").read_text())


def record(value: bytes | None, headers: tuple = (), offset: int = 7) -> KafkaRecord:
    return KafkaRecord("provenance.events", 2, offset, None, value, headers)


def structured(obj: object) -> KafkaRecord:
    return record(json.dumps(obj).encode(), (("content-type", STRUCTURED.encode()),))


def reason(rec: KafkaRecord, max_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> DecodeError:
    result = decode_record(rec, max_bytes)
    assert isinstance(result, DecodeError), result
    assert result.code in REASONS, result.code
    assert result.detail
    return result


@pytest.mark.parametrize("event_type", sorted(DATA_MODELS))
def test_structured_round_trip_of_every_type(event_type: str) -> None:
    original = validate_event(example(event_type))
    assert isinstance(original, DecodedEvent), original
    headers, value = structured_message(original)
    assert headers == [("content-type", STRUCTURED.encode())]
    back = decode_record(record(value, tuple(headers)))
    assert isinstance(back, DecodedEvent), back
    assert back.fact == original.fact
    assert back.event == original.event
    assert back.canonical == original.canonical


@pytest.mark.parametrize("content_type", [None, "application/json"])
def test_json_without_cloudevents_content_type_is_structured(content_type: str | None) -> None:
    headers = () if content_type is None else (("content-type", content_type.encode()),)
    result = decode_record(record(json.dumps(example()).encode(), headers))
    assert isinstance(result, DecodedEvent), result


def test_binary_mode_with_json_data() -> None:
    original = validate_event(example())
    assert isinstance(original, DecodedEvent)
    event = original.event
    headers = (
        ("ce_specversion", b"1.0"),
        ("ce_id", event.id.encode()),
        ("ce_source", event.source.encode()),
        ("ce_type", event.type.encode()),
        ("ce_time", b"2026-11-26T08:12:44Z"),
        ("content-type", b"application/json"),
    )
    result = decode_record(record(json.dumps(event.data).encode(), headers))
    assert isinstance(result, DecodedEvent), result
    assert result.canonical == original.canonical


def test_encode_message_formats() -> None:
    original = validate_event(example())
    assert isinstance(original, DecodedEvent)
    assert dict(encode_message(original, "avro")[0])["content-type"] == b"application/avro"
    assert dict(encode_message(original, "json")[0])["content-type"] == STRUCTURED.encode()


def with_data(**changes: object) -> dict:
    obj = example()
    obj["data"] = {**obj["data"], **changes}
    return obj


BAD = {
    "unknown type": ({**example(), "type": "dev.provledger.change.teleported.v1"}, "unknown_type"),
    "missing required field": (
        {**example(), "data": {k: v for k, v in example()["data"].items() if k != "commit"}},
        "missing_field",
    ),
    "missing attribute": (
        {k: v for k, v in example().items() if k != "source"},
        "missing_field",
    ),
    "wrong field type": (with_data(lines_added="120"), "wrong_type"),
    "wrong nested type": (with_data(author="alice"), "wrong_type"),
    "bool as text": (
        {
            **example("dev.provledger.agent.action.v1"),
            "data": {**example("dev.provledger.agent.action.v1")["data"], "destructive": "true"},
        },
        "wrong_type",
    ),
    "invalid value": (with_data(commit="abc"), "invalid_field"),
    "time without offset": ({**example(), "time": "2026-11-26T09:00:00"}, "invalid_field"),
    "not an object": ([example()], "wrong_type"),
}


@pytest.mark.parametrize(("obj", "code"), BAD.values(), ids=BAD.keys())
def test_bad_events_have_a_reason(obj: object, code: str) -> None:
    assert reason(structured(obj)).code == code


def test_malformed_json() -> None:
    assert reason(record(b'{"specversion": "1.0", "id": ')).code == "malformed_json"
    assert reason(record(b"\xff\xfe\x00")).code == "malformed_json"


def test_empty_value() -> None:
    assert reason(record(None)).code == "empty_value"
    assert reason(record(b"")).code == "empty_value"


def test_unsupported_content_type() -> None:
    rec = record(b"<xml/>", (("content-type", b"application/xml"),))
    assert reason(rec).code == "unsupported_content_type"


def test_oversized_value_uses_the_setting() -> None:
    assert Settings().max_event_bytes == DEFAULT_MAX_EVENT_BYTES == 1024 * 1024
    assert Settings.from_env({"PROVLEDGER_MAX_EVENT_BYTES": "2048"}).max_event_bytes == 2048
    big = with_data(message="x" * DEFAULT_MAX_EVENT_BYTES)
    error = reason(structured(big))
    assert error.code == "oversized"
    assert str(DEFAULT_MAX_EVENT_BYTES) in error.detail
    assert reason(structured(example()), max_bytes=100).code == "oversized"


def test_unknown_extra_fields_are_kept() -> None:
    obj = with_data(ticket="SHOP-12")
    obj["author"] = "unrelated attribute"
    obj["data"]["author"] = {**obj["data"]["author"], "github": "alice-gh"}
    result = decode_record(structured(obj))
    assert isinstance(result, DecodedEvent), result
    assert result.event.data["ticket"] == "SHOP-12"
    assert result.fact.author.model_extra == {"github": "alice-gh"}
    assert result.event.extensions == {"author": "unrelated attribute"}


def test_canonical_bytes_ignore_the_encoding_attribute_and_nulls() -> None:
    noisy = validate_event(
        {**with_data(message=None), "datacontenttype": "application/json", "subject": None}
    )
    assert isinstance(noisy, DecodedEvent)
    without_message = validate_event(
        {**example(), "data": {k: v for k, v in example()["data"].items() if k != "message"}}
    )
    assert isinstance(without_message, DecodedEvent)
    assert noisy.canonical == without_message.canonical


def test_a_batch_keeps_going_past_bad_records() -> None:
    """Each bad record becomes a rejection with its coordinates; the good ones all pass."""
    good = [structured({**example(), "id": f"good-{n}"}) for n in range(3)]
    bad = [
        record(b"{", offset=100),
        structured({**example(), "type": "dev.provledger.nope.v1"}),
        record(
            b"\xc3\x01" + bytes(12),
            (
                ("ce_specversion", b"1.0"),
                ("ce_id", b"x"),
                ("ce_source", b"s"),
                ("ce_type", b"dev.provledger.incident.opened.v1"),
                ("ce_time", b"2026-11-26T00:00:00Z"),
                ("content-type", b"application/avro"),
            ),
            offset=101,
        ),
    ]
    incoming, rejected = decode_batch([good[0], *bad[:2], good[1], bad[2], good[2]], 1 << 20)
    assert [item.decoded.event.id for item in incoming] == ["good-0", "good-1", "good-2"]
    assert [item.reason for item in rejected] == [
        "malformed_json",
        "unknown_type",
        "unknown_fingerprint",
    ]
    assert rejected[0].record.offset == 100 and rejected[0].record.partition == 2
    assert rejected[2].id == "x" and rejected[2].type == "dev.provledger.incident.opened.v1"


def test_an_incident_on_unmapped_services_says_which() -> None:
    event = {
        "specversion": "1.0",
        "id": "am-1",
        "source": "webhook/alertmanager",
        "type": "dev.provledger.incident.opened.v1",
        "time": "2026-12-02T10:00:00Z",
        "datacontenttype": "application/json",
        "data": {
            "incident": "INC-1",
            "severity": "sev2",
            "services": [],
            "unmapped_services": [f"svc-{n}" for n in range(7)],
        },
    }
    error = reason(structured(event))
    assert error.code == "invalid_field"
    expected = "data: no ledger service is mapped for the provider's services svc-0, svc-1"
    assert expected in error.detail
    assert "and 2 more" in error.detail and "svc-5" not in error.detail
