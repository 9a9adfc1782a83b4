"""PagerDuty webhooks (v3): ``X-PagerDuty-Signature`` holds one or more comma-separated
``v1=<hex HMAC-SHA256 of the body>`` (several while a secret is rotated); one must match. The
delivery id is the payload's ``event.id``, the same on every retry.

- ``incident.triggered`` → ``incident.opened`` ``pagerduty:<incident id>``: the service through
  the mapping file (by id, then by name), the severity from the priority (``P1`` → ``sev1``,
  or as the file maps it), else from the urgency (``high`` → ``sev2``, ``low`` → ``sev4``);
- ``incident.resolved`` → ``incident.resolved`` at the event's ``occurred_at``.

Everything else (acknowledged, annotated, ``pagey.ping`` ...) is answered 202 and ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provenance_ledger.query.api.webhooks.core import (
    Context,
    Delivery,
    Outcome,
    Planned,
    at,
    delivery_id,
    dig,
    hex_hmac,
    ignored,
    text,
    when,
)
from provenance_ledger.query.api.webhooks.incidents import opened_data, resolved_data

PROVIDER = "pagerduty"
SOURCE = "webhook/pagerduty"


def verify(headers: Mapping[str, str], body: bytes, secret: str, now: float) -> None:
    """``headers`` with lower-case names; raises BadSignature."""
    hex_hmac(headers, "X-PagerDuty-Signature", "v1=", body, secret)


def delivery(headers: Mapping[str, str], payload: Any) -> Delivery:
    found = delivery_id(text(payload, "event", "id"), "event.id")
    return Delivery(PROVIDER, found, text(payload, "event", "event_type"))


def map_payload(payload: Any, delivery: Delivery, context: Context) -> Outcome:
    event = dig(payload, "event")
    incident = dig(event, "data")
    number = text(incident, "id")
    incident_id = f"pagerduty:{number}" if number else None
    if delivery.kind == "incident.resolved":
        time = at(event, "occurred_at")
        data = resolved_data(incident_id, time)
        return Outcome(SOURCE, (Planned("incident.resolved", data, time),))
    if delivery.kind != "incident.triggered":
        return ignored(SOURCE, f"the PagerDuty event {delivery.kind!r} is not recorded")
    pagerduty = context.mapping.pagerduty
    service_id, service_name = text(incident, "service", "id"), text(incident, "service", "summary")
    target = pagerduty.target(service_id, service_name)
    unmapped = [] if target else [f"pagerduty service {service_id} ({service_name})"]
    severity = context.mapping.severity(
        pagerduty, text(incident, "priority", "summary"), text(incident, "urgency")
    )
    data = opened_data(
        incident_id,
        severity,
        [target] if target else [],
        unmapped,
        title=text(incident, "title"),
        started=when(incident, "created_at"),
    )
    return Outcome(SOURCE, (Planned("incident.opened", data, at(event, "occurred_at")),))
