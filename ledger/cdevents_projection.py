"""CDEvents that mean the same as ours feed the same projection tables (CONTRACT §1)."""

from __future__ import annotations

from typing import Any

from schemas.events import CloudEvent

Row = dict[str, Any]


def _kind(event_type: str) -> str:
    """``dev.cdevents.service.deployed.0.3.0`` → ``service.deployed``."""
    parts = event_type.split(".")
    return ".".join(parts[2:4])


def project(event: CloudEvent, seq: int) -> list[tuple[str, Row]]:
    """Rows for the CDEvents we understand; other CDEvents are stored only."""
    data = event.data or {}
    subject = data.get("subject") or {}
    content = subject.get("content") or {}
    kind = _kind(event.type)
    base = {"event_id": event.id, "event_seq": seq}
    if kind in ("service.deployed", "service.upgraded"):
        environment = (content.get("environment") or {}).get("id")
        row = {
            **base,
            "event_source": event.source,
            "service": subject.get("id"),
            "environment": environment,
            "region": None,
            "version": content.get("artifactId"),
            "repo": None,
            "commit": None,
            "artifact": content.get("artifactId"),
            "deployer_id": None,
            "deployer_kind": None,
            "fleet_percent": None,
            "deployed_at": event.time,
        }
        return [("deployments", row)]
    if kind == "service.rolledback":
        environment = (content.get("environment") or {}).get("id")
        row = {
            **base,
            "service": subject.get("id"),
            "environment": environment,
            "from_version": None,
            "to_version": content.get("artifactId"),
            "reason": None,
            "rolled_back_at": event.time,
        }
        return [("rollbacks", row)]
    if kind in ("incident.detected", "incident.reported"):
        service = (content.get("service") or {}).get("id")
        environment = (content.get("environment") or {}).get("id")
        row = {
            **base,
            "incident": subject.get("id"),
            "title": content.get("description"),
            "severity": "sev3",
            "services": [service] if service else [],
            "environment": environment,
            "impact_started_at": event.time,
            "opened_at": event.time,
        }
        return [("incidents", row)]
    if kind == "incident.resolved":
        return [
            (
                "incident_resolutions",
                {**base, "incident": subject.get("id"), "resolved_at": event.time},
            )
        ]
    if kind == "artifact.packaged":
        change = content.get("change") or {}
        row = {
            **base,
            "artifact": subject.get("id"),
            "repo": change.get("source"),
            "commit": None,
            "change_ref": change.get("id"),
            "pipeline_run": None,
            "built_at": event.time,
        }
        return [("artifacts", row)]
    return []
