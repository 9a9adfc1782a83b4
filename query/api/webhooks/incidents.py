"""The ``incident.opened`` data the incident providers share: services through the mapping
file, and the unmapped ones named so that the dead letter says which.

An incident none of whose services the mapping file knows still becomes an ``incident.opened``
event, with ``services: []`` and ``unmapped_services`` naming the provider's services: the
ledger refuses it as invalid (services needs one at least) and keeps it as a dead letter, whose
raw JSON starts with the unmapped names. Nothing is guessed: a service the ledger does not
know would match no deployment and make an incident with no suspects.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from provenance_ledger.query.api.webhooks.mapping import Target


def opened_data(
    incident: str | None,
    severity: str,
    targets: Sequence[Target],
    unmapped: Sequence[str],
    *,
    title: str | None = None,
    started: datetime | None = None,
) -> dict[str, Any]:
    """The data of an ``incident.opened``; its environment is the first mapped service's."""
    services = list(dict.fromkeys(target.service for target in targets))
    environment = next((t.environment for t in targets if t.environment), None)
    data: dict[str, Any] = {}
    if unmapped:  # first, so the dead letter's raw prefix shows it first
        data["unmapped_services"] = list(dict.fromkeys(unmapped))
    data["incident"] = incident
    data["title"] = title
    data["severity"] = severity
    data["services"] = services
    data["environment"] = environment
    data["impact_started_at"] = started.isoformat() if started else None
    return {key: value for key, value in data.items() if value is not None}


def resolved_data(incident: str | None, resolved_at: datetime | None) -> dict[str, Any]:
    data = {"incident": incident, "resolved_at": resolved_at.isoformat() if resolved_at else None}
    return {key: value for key, value in data.items() if value is not None}
