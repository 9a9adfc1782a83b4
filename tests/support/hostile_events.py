"""Records that once stopped the ledger for good (issue 12, item 1), with the dead-letter reason
each must get. Shared by the integration, e2e and unit tests.

Each is built from a valid event plus one hostile part, spliced in as raw JSON text where
Python's json would refuse to write it (NaN is written by json.dumps; 5,000 digits and 100k
brackets are not).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from provenance_ledger.producers.envelope import build_event
from provenance_ledger.schemas import avro
from provenance_ledger.schemas.codec import STRUCTURED, DecodedEvent
from provenance_ledger.schemas.events import CloudEvent
from tests.support import eventmix

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class Hostile:
    name: str
    headers: Headers
    value: bytes
    reason: str
    structured: bool
    """True when the value is a whole CloudEvent (it can be POSTed to /v1/events as is)."""


def base_event(name: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"hostile-{name}",
        "source": "test/hostile",
        "type": "dev.provledger.service.deployed.v1",
        "time": "2026-11-20T12:00:00Z",
        "data": {"service": "checkout", "environment": "prod", "version": "1.0.0"},
    }


def _with_raw(event: dict[str, Any], field: str, raw: str) -> bytes:
    """The event's JSON with an extension attribute whose value is ``raw`` JSON text."""
    text = json.dumps(event)
    return f'{text[:-1]}, "{field}": {raw}}}'.encode()


def _nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def _structured(name: str, reason: str, value: bytes) -> Hostile:
    return Hostile(name, [("content-type", STRUCTURED.encode())], value, reason, True)


def structured_records() -> list[Hostile]:
    found = []
    for name, change, reason in [
        ("surrogate-subject", {"subject": "\udfff"}, "invalid_field"),
        ("surrogate-extension", {"note": {"by": ["ok", "\udfff"]}}, "invalid_field"),
        ("far-future", {"time": "9999-12-31T23:59:59-01:00"}, "invalid_field"),
        ("far-past", {"time": "0001-01-01T00:00:00+01:00"}, "invalid_field"),
    ]:
        # json.dumps escapes a lone surrogate as \udfff, as a hostile emitter would send it.
        found.append(_structured(name, reason, json.dumps({**base_event(name), **change}).encode()))
    for name, raw, reason in [
        ("deep-extension", _nested(800), "too_deep"),
        ("deep-json", "[" * 100_000 + "]" * 100_000, "too_deep"),
        ("huge-int", "9" * 5000, "invalid_field"),
        ("nan", "NaN", "malformed_json"),
        ("infinity", "-Infinity", "malformed_json"),
        ("overflowing-float", "1e99999", "invalid_field"),
    ]:
        found.append(_structured(name, reason, _with_raw(base_event(name), "x", raw)))
    return found


def _decoded(name: str, **data: Any) -> DecodedEvent:
    event = base_event(name)
    return build_event(
        event["type"], {**event["data"], **data}, event["source"], event_id=event["id"]
    )


def _replace_header(headers: Headers, name: str, value: bytes) -> Headers:
    return [(key, value if key == name else raw) for key, raw in headers]


def binary_records() -> list[Hostile]:
    """Binary mode: ``ce_*`` headers with Avro or JSON data."""
    headers, value = avro.binary_message(_decoded("avro-far-future"))
    far = _replace_header(headers, "ce_time", b"9999-12-31T23:59:59-01:00")
    writer = avro.default_registry().current["dev.provledger.service.deployed.v1"]
    base = base_event("x")["data"]
    extra_nan = avro.encode_with(writer, {**base, "x": float("nan")})
    extra_deep = avro.encode_with(writer, {**base, "x": json.loads(_nested(200))})
    json_headers = _replace_header(headers, "content-type", b"application/json")
    return [
        Hostile("avro-far-future", far, value, "invalid_field", False),
        Hostile(
            "avro-extra-nan", _ids(headers, "avro-extra-nan"), extra_nan, "malformed_json", False
        ),
        Hostile("avro-extra-deep", _ids(headers, "avro-extra-deep"), extra_deep, "too_deep", False),
        Hostile(
            "avro-garbage-body",
            _ids(headers, "avro-garbage-body"),
            value[:10] + b"\xff" * 40,
            "malformed_avro",
            False,
        ),
        Hostile(
            "binary-json-deep",
            _ids(json_headers, "binary-json-deep"),
            b"[" * 100_000 + b"]" * 100_000,
            "too_deep",
            False,
        ),
    ]


def _ids(headers: Headers, name: str) -> Headers:
    return _replace_header(headers, "ce_id", f"hostile-{name}".encode())


def records() -> list[Hostile]:
    return [*structured_records(), *binary_records()]


def unstorable_event(event_id: str) -> DecodedEvent:
    """An event that skipped validation (as backfill builds its own) and whose canonical bytes
    cannot be built: a lone surrogate in its subject. The writer must dead-letter it alone."""
    event = CloudEvent.model_construct(
        specversion="1.0",
        id=event_id,
        source="test/writer",
        type="dev.provledger.incident.resolved.v1",
        time=eventmix.START,
        subject="\udfff",
        data={"incident": "INC-1"},
    )
    return DecodedEvent(event, None)
