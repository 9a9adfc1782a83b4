"""CDEvents v0.5.x, accepted as they are: bare (``context`` + ``subject``) or wrapped."""

from __future__ import annotations

from typing import Any

CDEVENTS_PREFIX = "dev.cdevents."


def is_cdevent_type(event_type: str) -> bool:
    return event_type.startswith(CDEVENTS_PREFIX)


def is_bare(obj: dict[str, Any]) -> bool:
    return "specversion" not in obj and isinstance(obj.get("context"), dict) and "subject" in obj


def wrap(cdevent: dict[str, Any]) -> dict[str, Any]:
    """The CloudEvent that carries a bare CDEvent: its context names the event."""
    context = cdevent["context"]
    return {
        "specversion": "1.0",
        "id": context.get("id"),
        "source": context.get("source"),
        "type": context.get("type"),
        "time": context.get("timestamp"),
        "data": cdevent,
    }


def validate(cdevent: Any) -> str | None:
    """A reason the CDEvent is not acceptable, or None."""
    if not isinstance(cdevent, dict) or not isinstance(cdevent.get("context"), dict):
        return "data: a CDEvent needs a context object"
    if not isinstance(cdevent.get("subject"), dict):
        return "data: a CDEvent needs a subject object"
    return None
