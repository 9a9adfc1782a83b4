"""incident.io webhooks, signed the Svix (Standard Webhooks) way: ``webhook-signature`` holds
space-separated ``v1,<base64 HMAC-SHA256>`` of ``<webhook-id>.<webhook-timestamp>.<body>``,
keyed with the base64 secret after its ``whsec_`` prefix; ``webhook-timestamp`` (Unix seconds)
must be within :data:`MAX_SKEW_S` of this server's clock, so a captured delivery cannot be
replayed later. ``webhook-id`` is the delivery id, the same on every retry.

- ``public_incident.incident_created_v2`` of a declared incident (status category ``live`` or
  ``paused``) → ``incident.opened`` with the incident's ``reference`` (``INC-123``); one
  created already resolved (a retrospective incident, ``learning`` or ``closed``) → opened and
  resolved; one in triage, declined, merged or canceled → nothing;
- ``public_incident.incident_status_updated_v2`` from triage to live → ``incident.opened``
  (the triage was accepted: declared); into ``learning`` or ``closed`` → ``incident.resolved``.

The services come from the custom fields the mapping file names (``Affected services`` by
default), each value looked up by its catalog external id, id, then name (or the option or
text value). Test and tutorial incidents, private incidents (their payload is an id only) and
every other event are answered 202 and ignored.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from provenance_ledger.query.api.webhooks.core import (
    BadSecret,
    BadSignature,
    Context,
    Delivery,
    Outcome,
    Planned,
    at,
    delivery_id,
    dig,
    header,
    hmac_sha256,
    ignored,
    items,
    one_matches,
    text,
    when,
)
from provenance_ledger.query.api.webhooks.incidents import opened_data, resolved_data
from provenance_ledger.query.api.webhooks.mapping import Target

PROVIDER = "incident-io"
SOURCE = "webhook/incident-io"
MAX_SKEW_S = 300
"""How far ``webhook-timestamp`` may be from this server's clock (Svix's own tolerance)."""
DECLARED = ("live", "paused")
RESOLVED = ("learning", "closed")
NOT_REAL = ("test", "tutorial")


def verify(headers: Mapping[str, str], body: bytes, secret: str, now: float) -> None:
    """``headers`` with lower-case names; raises BadSignature, or BadSecret."""
    signatures = header(headers, "webhook-signature")
    message_id, timestamp = header(headers, "webhook-id"), header(headers, "webhook-timestamp")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > MAX_SKEW_S:
        raise BadSignature(f"webhook-timestamp is not within {MAX_SKEW_S} s of this server's clock")
    signed = f"{message_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac_sha256(_key(secret), signed)).decode()
    given = [part.partition(",") for part in signatures.split()]
    v1 = [value for version, _, value in given if version == "v1"]
    one_matches(v1, expected, "no v1 signature in webhook-signature matches the body")


def _key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise BadSecret(
            "PROVLEDGER_WEBHOOK_INCIDENT_IO_SECRET is not an incident.io signing secret "
            "(whsec_ and base64)"
        ) from None


def delivery(headers: Mapping[str, str], payload: Any) -> Delivery:
    found = delivery_id(headers.get("webhook-id"), "webhook-id")
    return Delivery(PROVIDER, found, text(payload, "event_type"))


def map_payload(payload: Any, delivery: Delivery, context: Context) -> Outcome:
    kind = delivery.kind or ""
    body = dig(payload, kind)
    if kind == "public_incident.incident_created_v2":
        incident, old, new = body, None, text(body, "incident_status", "category")
    elif kind == "public_incident.incident_status_updated_v2":
        incident = dig(body, "incident")
        old = text(body, "previous_status", "category")
        new = text(body, "new_status", "category")
    else:
        return ignored(SOURCE, f"the incident.io event {kind!r} is not one the ledger records")
    if text(incident, "mode") in NOT_REAL:
        return ignored(SOURCE, f"a {text(incident, 'mode')} incident")
    planned = []
    if new in DECLARED + RESOLVED and old in (None, "triage"):
        time = at(incident, "created_at" if old is None else "updated_at")
        planned.append(Planned("incident.opened", _opened(incident, context), time, "opened"))
    if new in RESOLVED and old not in RESOLVED:
        time = at(incident, "updated_at")
        data = resolved_data(_incident_id(incident), time)
        planned.append(Planned("incident.resolved", data, time, "resolved"))
    if not planned:
        return ignored(SOURCE, f"an incident going from {old} to {new}")
    return Outcome(SOURCE, tuple(planned))


def _incident_id(incident: Any) -> str | None:
    return text(incident, "reference") or text(incident, "id")


def _opened(incident: Any, context: Context) -> dict[str, Any]:
    settings = context.mapping.incident_io
    targets: list[Target] = []
    unmapped: list[str] = []
    for entry in items(incident, "custom_field_entries"):
        if text(entry, "custom_field", "name") not in settings.service_fields:
            continue
        for value in items(entry, "values"):
            names = [
                text(value, "value_catalog_entry", "external_id"),
                text(value, "value_catalog_entry", "id"),
                text(value, "value_catalog_entry", "name"),
                text(value, "value_option", "value"),
                text(value, "value_text"),
            ]
            target = settings.target(*names)
            if target is not None:
                targets.append(target)
            elif any(names):
                shown = text(value, "value_catalog_entry", "name") or next(n for n in names if n)
                unmapped.append(f"incident.io service {shown}")
    if not targets and not unmapped:
        unmapped.append(f"incident.io incident with no {' or '.join(settings.service_fields)}")
    return opened_data(
        _incident_id(incident),
        context.mapping.severity(settings, text(incident, "severity", "name")),
        targets,
        unmapped,
        title=text(incident, "name"),
        started=_impact_started(incident),
    )


def _impact_started(incident: Any) -> Any:
    for stamp in items(incident, "incident_timestamp_values"):
        if (text(stamp, "incident_timestamp", "name") or "").lower() == "impact started":
            found = when(stamp, "value", "value")
            if found is not None:
                return found
    return when(incident, "created_at")
