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
    BadSignature,
    Context,
    Delivery,
    Outcome,
    Planned,
    at,
    delivery_id,
    dig,
    hmac_sha256,
    ignored,
    same,
    text,
    when,
)
from provenance_ledger.query.api.webhooks.incidents import opened_data, resolved_data

PROVIDER = "pagerduty"
SOURCE = "webhook/pagerduty"


def verify(headers: Mapping[str, str], body: bytes, secret: str, now: float) -> None:
    """``headers`` with lower-case names; raises BadSignature."""
    given = headers.get("x-pagerduty-signature")
    if given is None:
        raise BadSignature("no X-PagerDuty-Signature header")
    expected = "v1=" + hmac_sha256(secret.encode(), body).hex()
    # Every candidate is compared, so the time taken does not tell which one matched.
    matches = [same(part.strip().lower(), expected) for part in given.split(",")]
    if not any(matches):
        raise BadSignature("no v1 signature in X-PagerDuty-Signature matches the body")


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
