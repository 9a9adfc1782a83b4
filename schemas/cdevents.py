"""CDEvents v0.5.x, accepted as they are: bare (``context`` + ``subject``) or wrapped.

Every CDEvent gets a structural check (context with id, source, type and timestamp; a subject
object). Once :func:`use_schemas` names a folder of the official CDEvents JSON Schemas (the
``schemas/`` folder of the CDEvents spec release; the CLI passes the
``PROVLEDGER_CDEVENTS_SCHEMAS`` setting at start-up), each is also checked against its schema;
the schemas are not shipped in this package. Two deliberate departures from the
schemas, both from CONTRACT §1:
``additionalProperties`` violations are not errors (unknown extra fields are kept), and a
``dev.cdevents.*`` type this spec version does not define is stored after a structural check
(context and subject objects) rather than refused.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

CDEVENTS_PREFIX = "dev.cdevents."
CONTEXT_ATTRIBUTES = ("id", "source", "type", "timestamp")
# Schema keywords whose failure only means "an unknown field is present".
TOLERATED = frozenset({"additionalProperties"})
# Process-wide, as decoding is: every way in (emit, the consumer, the API) checks alike.
schemas_folder: Path | None = None


def use_schemas(folder: Path | None) -> None:
    """Check CDEvents against the official schemas in ``folder`` from now on; None: their
    structure only."""
    global schemas_folder
    schemas_folder = folder


def is_cdevent_type(event_type: str) -> bool:
    return event_type.startswith(CDEVENTS_PREFIX)


def is_bare(obj: dict[str, Any]) -> bool:
    return "specversion" not in obj and isinstance(obj.get("context"), dict) and "subject" in obj


def wrap(cdevent: dict[str, Any]) -> dict[str, Any]:
    """The CloudEvent that carries a bare CDEvent: its context names the event."""
    context = cdevent["context"]
    attributes = {
        "id": context.get("id"),
        "source": context.get("source"),
        "type": context.get("type"),
        "time": context.get("timestamp"),
    }
    present = {name: value for name, value in attributes.items() if value is not None}
    return {"specversion": "1.0", **present, "data": cdevent}


@cache
def validators(folder: Path) -> dict[str, Draft202012Validator]:
    """One compiled validator per CDEvents type (``dev.cdevents.<subject>.<predicate>.<v>``)."""
    documents = [
        json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.rglob("*.json"))
    ]
    registry: Registry = Registry().with_resources(
        (document["$id"], Resource.from_contents(document)) for document in documents
    )
    found: dict[str, Draft202012Validator] = {}
    for document in documents:
        context = document.get("properties", {}).get("context", {})
        for event_type in context.get("properties", {}).get("type", {}).get("enum", []):
            found[event_type] = Draft202012Validator(document, registry=registry)
    return found


def _where(error: ValidationError) -> str:
    return ".".join(str(part) for part in ("data", *error.absolute_path))


def validate(cdevent: Any, event_type: str | None = None) -> str | None:
    """A reason the CDEvent is not acceptable, or None."""
    if not isinstance(cdevent, dict) or not isinstance(cdevent.get("context"), dict):
        return "data: a CDEvent needs a context object"
    if not isinstance(cdevent.get("subject"), dict):
        return "data: a CDEvent needs a subject object"
    for attribute in CONTEXT_ATTRIBUTES:
        if not isinstance(cdevent["context"].get(attribute), str):
            return f"data.context.{attribute}: required, a string"
    declared = cdevent["context"]["type"]
    if event_type is not None and declared != event_type:
        return f"data.context.type is {declared!r} but the CloudEvent type is {event_type!r}"
    validator = validators(schemas_folder).get(declared) if schemas_folder else None
    if validator is None:
        return None
    for error in sorted(validator.iter_errors(cdevent), key=lambda e: list(e.absolute_path)):
        if error.validator not in TOLERATED:
            return f"{_where(error)}: {error.message}"
    return None
