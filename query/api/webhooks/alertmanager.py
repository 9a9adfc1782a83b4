"""Prometheus Alertmanager webhooks (payload version 4): Alertmanager signs nothing, so the
receiver's ``http_config.authorization`` sends the secret as ``Authorization: Bearer <secret>``,
compared in constant time.

Alertmanager has no delivery id; a notification is identified by a hash of its ``groupKey``,
``status`` and its alerts' fingerprints and ``startsAt``: a repeated notification of the same
alerts (``repeat_interval``) is one event, a group that gained an alert is a new one. The
incident is ``alertmanager:<hash of the groupKey and the group's earliest startsAt>``, the same
for the firing and the resolved notifications of one episode.

- ``firing`` → ``incident.opened``: the services are the firing alerts' values of the label the
  mapping file names (``service`` by default), mapped through the file; the severity the
  most severe of the alerts' ``severity`` labels; impact from the earliest ``startsAt``;
- ``resolved`` → ``incident.resolved`` at the latest ``endsAt``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from provenance_ledger.query.api.webhooks.core import (
    Context,
    Delivery,
    Outcome,
    Planned,
    header,
    ignored,
    items,
    one_matches,
    text,
    when,
)
from provenance_ledger.query.api.webhooks.incidents import opened_data, resolved_data
from provenance_ledger.query.api.webhooks.mapping import Target

PROVIDER = "alertmanager"


def verify(headers: Mapping[str, str], body: bytes, secret: str, now: float) -> None:
    """``headers`` with lower-case names; raises BadSignature."""
    given = header(headers, "Authorization", " (configure a bearer authorization)")
    scheme, _, token = given.partition(" ")
    bearer = [token.strip()] if scheme.lower() == "bearer" else []
    one_matches(bearer, secret, "the Authorization bearer token is not the configured secret")


def delivery(headers: Mapping[str, str], payload: Any) -> Delivery:
    alerts = sorted(
        [text(alert, "fingerprint") or _labels(alert), text(alert, "startsAt") or ""]
        for alert in items(payload, "alerts")
    )
    identity = [text(payload, "groupKey"), text(payload, "status"), alerts]
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return Delivery(PROVIDER, digest[:32], text(payload, "status"))


def _labels(alert: Any) -> str:
    labels = alert.get("labels") if isinstance(alert, dict) else None
    return json.dumps(labels, sort_keys=True)


def map_payload(payload: Any, delivery: Delivery, context: Context) -> Outcome:
    source = f"webhook/alertmanager/{text(payload, 'receiver') or 'default'}"
    alerts = [alert for alert in items(payload, "alerts") if isinstance(alert, dict)]
    starts = sorted(found for alert in alerts if (found := when(alert, "startsAt")))
    if not starts:
        return ignored(source, "a notification with no alert that says when it started")
    episode = f"{text(payload, 'groupKey')}\n{starts[0].isoformat()}"
    incident = "alertmanager:" + hashlib.sha256(episode.encode()).hexdigest()[:16]
    if delivery.kind == "resolved":
        ends = sorted(found for alert in alerts if (found := when(alert, "endsAt")))
        resolved_at = ends[-1] if ends else starts[-1]
        data = resolved_data(incident, resolved_at)
        return Outcome(source, (Planned("incident.resolved", data, resolved_at),))
    if delivery.kind != "firing":
        return ignored(source, f"a notification with status {delivery.kind!r}")
    firing = [alert for alert in alerts if text(alert, "status") in (None, "firing")]
    return Outcome(source, (_opened(payload, firing or alerts, incident, starts, context),))


def _opened(
    payload: Any, alerts: list[Any], incident: str, starts: list[Any], context: Context
) -> Planned:
    settings = context.mapping.alertmanager
    label = settings.service_label
    targets: list[Target] = []
    unmapped: list[str] = []
    for name in dict.fromkeys(text(alert, "labels", label) for alert in alerts):
        target = settings.target(name)
        if target is not None:
            targets.append(target)
        else:
            unmapped.append(f"alertmanager {label}={name}" if name else f"alert without {label}")
    severities = [text(alert, "labels", "severity") for alert in alerts]
    severity = min(context.mapping.severity(settings, found) for found in severities or [None])
    title = (
        text(payload, "commonAnnotations", "summary")
        or text(payload, "commonLabels", "alertname")
        or text(payload, "groupLabels", "alertname")
    )
    data = opened_data(incident, severity, targets, unmapped, title=title, started=starts[0])
    return Planned("incident.opened", data, starts[0])
