"""The contract's example events (schemas/examples) and the codec round trip the schema tests
share."""

from __future__ import annotations

import json
from pathlib import Path

from provenance_ledger.schemas import avro
from provenance_ledger.schemas.codec import DecodedEvent, KafkaRecord, validate_event

EXAMPLES = Path(avro.__file__).resolve().parent / "examples"


def example(event_type: str, **data: object) -> dict:
    """The example event of ``event_type``, its data fields replaced by ``data``."""
    obj = json.loads((EXAMPLES / f"{event_type}.json").read_text())
    obj["data"] = {**obj["data"], **data}
    return obj


def decoded(obj: dict) -> DecodedEvent:
    """``obj`` as the codec accepts it; the test fails when the codec refuses it."""
    result = validate_event(obj)
    assert isinstance(result, DecodedEvent), result
    return result


def record(headers: list[tuple[str, bytes]], value: bytes) -> KafkaRecord:
    """A Kafka record carrying ``value`` and ``headers``, as the ledger's consumer reads one."""
    return KafkaRecord("provenance.events", 3, 42, b"key", value, tuple(headers))
