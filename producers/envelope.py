"""Build CloudEvents envelopes for our event types."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from provenance_ledger.schemas.codec import DecodedEvent, DecodeError, validate_event
from provenance_ledger.schemas.errors import UsageProblem
from provenance_ledger.schemas.events import full_type


class InvalidEvent(ValueError, UsageProblem):
    def __init__(self, error: DecodeError) -> None:
        super().__init__(f"{error.code}: {error.detail}")
        self.error = error


def build_event(
    event_type: str,
    data: dict[str, Any],
    source: str,
    *,
    event_id: str | None = None,
    time: datetime | None = None,
    subject: str | None = None,
) -> DecodedEvent:
    """A validated event; raises :class:`InvalidEvent` with the reason if it is not valid."""
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": source,
        "type": full_type(event_type),
        "time": (time or datetime.now(UTC)).isoformat(),
        "data": data,
    }
    if subject is not None:
        envelope["subject"] = subject
    decoded = validate_event(envelope)
    if isinstance(decoded, DecodeError):
        raise InvalidEvent(decoded)
    return decoded


def partition_key(decoded: DecodedEvent) -> bytes | None:
    """The service (or else the repo) keeps one service's or repo's events in order."""
    data = decoded.event.data or {}
    target = data.get("target")
    if not isinstance(target, dict):
        target = {}
    key = data.get("service") or target.get("service") or data.get("repo")
    if not key and isinstance(data.get("services"), list) and data["services"]:
        key = data["services"][0]
    return str(key).encode() if key else None
