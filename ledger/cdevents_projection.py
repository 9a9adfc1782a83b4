"""CDEvents that mean the same as ours feed the same projection tables (CONTRACT §1).

- ``service.deployed``/``upgraded`` → deployments: subject.id is the service, environment.id the
  environment, artifactId both the version and the artifact;
- ``service.rolledback`` → rollbacks: artifactId is the version rolled back to;
- ``incident.detected``/``reported`` → incidents: subject.id is the incident, service.id its
  service; severity ``sevN`` from customData.severity if given, else sev3;
- ``incident.resolved`` → incident_resolutions;
- ``artifact.packaged`` → artifacts: subject.id is the artifact, change.id the change_ref,
  change.source the repo (as ``org/name``).

So an incident leads to its change: incident → deployments of its service (``artifact``) →
``artifacts`` row of that artifact (``repo``, ``change_ref``) → the change. Every other CDEvent is
stored in ``events`` and projected nowhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from provenance_ledger.schemas.events import CloudEvent

Row = dict[str, Any]
DEFAULT_SEVERITY = "sev3"
_SEVERITY = re.compile(r"^sev[1-5]$")


def _kind(event_type: str) -> str:
    """``dev.cdevents.service.deployed.0.3.0`` → ``service.deployed``."""
    parts = event_type.split(".")
    return ".".join(parts[2:4])


def _id(obj: Any) -> str | None:
    """CDEvents refer to other subjects as ``{"id": ..., "source": ...}``."""
    return _text(obj.get("id")) if isinstance(obj, dict) else None


# Without the optional CDEvents JSON Schemas only the context and subject are checked, so any
# other member may have any JSON type: read objects and strings only where they are.
def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def repo_name(source: str | None) -> str | None:
    """A change's ``source`` as our ``org/name``: ``https://github.com/acme/shop.git`` and
    ``git@github.com:acme/shop.git`` and ``my-git.example/acme/shop`` all give ``acme/shop``;
    other forms are kept as sent."""
    if not source:
        return None
    path = re.sub(r"^[a-z][a-z0-9+.-]*://", "", source.strip()).rstrip("/")
    path = re.sub(r"^[\w.-]+@([^:/]+):", r"\1/", path)
    parts = [part for part in path.split("/") if part]
    if len(parts) >= 3 and "." in parts[0]:
        parts = parts[1:]
    if len(parts) < 2:
        return source
    return "/".join(parts[-2:]).removesuffix(".git")


def _severity(data: dict[str, Any]) -> str:
    """CDEvents have no severity; an incident tool may put ``sevN`` in customData."""
    value = _object(data.get("customData")).get("severity")
    if isinstance(value, str) and _SEVERITY.match(value.lower()):
        return value.lower()
    return DEFAULT_SEVERITY


# Columns a row cannot go without (NOT NULL in ledger/schema.sql).
REQUIRED = {
    "deployments": ("service", "environment", "version"),
    "rollbacks": ("service", "environment", "to_version"),
    "incidents": ("incident",),
    "incident_resolutions": ("incident",),
    "artifacts": ("artifact",),
}


def project(event: CloudEvent, seq: int) -> list[tuple[str, Row]]:
    """Rows for the CDEvents we understand; other CDEvents are stored only.

    A CDEvent of a version whose schema the ledger lacks may miss what a row needs: it is then
    stored only, rather than failing the batch it came in.
    """
    return [
        (table, row)
        for table, row in _rows(event, seq)
        if all(isinstance(row[column], str) and row[column] for column in REQUIRED[table])
    ]


def _rows(event: CloudEvent, seq: int) -> list[tuple[str, Row]]:
    build = _BUILDERS.get(_kind(event.type))
    if build is None:
        return []
    data = event.data or {}
    subject = _object(data.get("subject"))
    table, row = build(event, data, subject, _object(subject.get("content")))
    return [(table, {"event_id": event.id, "event_seq": seq, **row})]


# Each builder: (event, data, subject, subject.content) → (table, row without event_id/_seq).
Builder = Callable[[CloudEvent, Row, Row, Row], tuple[str, Row]]


def _deployed(event: CloudEvent, data: Row, subject: Row, content: Row) -> tuple[str, Row]:
    return "deployments", {
        "event_source": event.source,
        "service": _text(subject.get("id")),
        "environment": _id(content.get("environment")),
        "region": None,
        "version": _text(content.get("artifactId")),
        "repo": None,
        "commit": None,
        "artifact": _text(content.get("artifactId")),
        "deployer_id": None,
        "deployer_kind": None,
        "fleet_percent": None,
        "deployed_at": event.time,
    }


def _rolled_back(event: CloudEvent, data: Row, subject: Row, content: Row) -> tuple[str, Row]:
    return "rollbacks", {
        "service": _text(subject.get("id")),
        "environment": _id(content.get("environment")),
        "from_version": None,
        "to_version": _text(content.get("artifactId")),
        "reason": None,
        "rolled_back_at": event.time,
    }


def _incident(event: CloudEvent, data: Row, subject: Row, content: Row) -> tuple[str, Row]:
    service = _id(content.get("service"))
    return "incidents", {
        "incident": _text(subject.get("id")),
        "title": _text(content.get("description")),
        "severity": _severity(data),
        "services": [service] if service else [],
        "environment": _id(content.get("environment")),
        "impact_started_at": event.time,
        "opened_at": event.time,
        # As an opening of ours may carry one (ledger/projection.py, region_of_data).
        "region": _text(data.get("region")),
    }


def _resolved(event: CloudEvent, data: Row, subject: Row, content: Row) -> tuple[str, Row]:
    return "incident_resolutions", {"incident": _text(subject.get("id")), "resolved_at": event.time}


def _packaged(event: CloudEvent, data: Row, subject: Row, content: Row) -> tuple[str, Row]:
    change = _object(content.get("change"))
    return "artifacts", {
        "artifact": _text(subject.get("id")),
        "repo": repo_name(_text(change.get("source"))),
        "commit": None,
        "change_ref": _text(change.get("id")),
        "pipeline_run": None,
        "built_at": event.time,
    }


_BUILDERS: dict[str, Builder] = {
    "service.deployed": _deployed,
    "service.upgraded": _deployed,
    "service.rolledback": _rolled_back,
    "incident.detected": _incident,
    "incident.reported": _incident,
    "incident.resolved": _resolved,
    "artifact.packaged": _packaged,
}
