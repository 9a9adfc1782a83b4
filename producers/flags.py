"""Unleash's change feed → ``config.changed`` data. Pure.

Unleash, not flagd: Unleash keeps an event log of every flag change with who made it
(``createdBy``), when (``createdAt``), the flag, its environment and, for strategies, the
configuration before and after (``preData``/``data``) with the rollout percentage; its webhook
integration posts each event as it is (the default body), and ``GET /api/admin/events`` lists
them. flagd has no change feed of its own: its flags change when the files or Kubernetes
resources it syncs from change, which are best seen as commits of the repository holding them.

Accepted input: one Unleash event, a list of them, or the events API's ``{"events": [...]}``.
Mapped event types (others, such as tags and staleness, do not change what users get):

- ``feature-environment-enabled`` / ``-disabled``: ``false`` → ``true`` / ``true`` →
  ``false`` (fleet_percent 0 once disabled);
- ``feature-strategy-add`` / ``-update`` / ``-remove``: the strategy before → after (absent
  where there is none), fleet_percent its rollout;
- ``feature-archived`` / ``feature-revived``: ``{"archived": false}`` → ``{"archived": true}``
  and back (fleet_percent 0 once archived);
- ``feature-environment-variants-updated``, ``feature-variants-updated``: the variants before
  → after.

A flag tagged ``service:NAME`` (tag type ``service``) targets that service; the Unleash
environment is the target's environment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from provenance_ledger.schemas.errors import UsageProblem

STRATEGY_FIELDS = ("name", "parameters", "constraints", "segments", "variants", "disabled")
ROLLOUT_PARAMETERS = ("rollout", "percentage")
AUTOMATION = re.compile(r"token|system|\bapi\b|bot|automation", re.IGNORECASE)
EVERYONE = "default"  # Unleash's standard strategy: on for everyone


class FeedError(ValueError, UsageProblem):
    """Not Unleash events."""


@dataclass(frozen=True)
class FlagChange:
    event_id: str
    time: str
    data: dict[str, Any]


def _strategy(value: Any) -> dict[str, Any] | None:
    """The parts of a strategy that decide who gets the flag (not its id or sort order), so a
    strategy put back as it was compares equal to the one before."""
    if not isinstance(value, dict):
        return None
    return {name: value[name] for name in STRATEGY_FIELDS if value.get(name) is not None}


def _rollout(strategy: dict[str, Any] | None) -> float | None:
    if strategy is None or strategy.get("disabled") is True:
        return None
    if strategy.get("name") == EVERYONE:
        return 100.0
    parameters = strategy.get("parameters") or {}
    for name in ROLLOUT_PARAMETERS:
        try:
            percent = float(parameters[name])
        except (KeyError, TypeError, ValueError):
            continue
        if 0 <= percent <= 100:
            return percent
    return None


def _values(kind: str, event: dict[str, Any]) -> tuple[Any, Any, float | None] | None:
    """(from, to, fleet_percent) of one Unleash event type, or None when it is not mapped."""
    before, after = event.get("preData"), event.get("data")
    if kind == "feature-environment-enabled":
        return False, True, None
    if kind == "feature-environment-disabled":
        return True, False, 0.0
    if kind in ("feature-strategy-add", "feature-strategy-update", "feature-strategy-remove"):
        new = _strategy(after)
        return _strategy(before), new, _rollout(new)
    if kind == "feature-archived":
        return {"archived": False}, {"archived": True}, 0.0
    if kind == "feature-revived":
        return {"archived": True}, {"archived": False}, None
    if kind in ("feature-environment-variants-updated", "feature-variants-updated"):
        return _variants(before), _variants(after), None
    return None


def _variants(value: Any) -> Any:
    return value.get("variants") if isinstance(value, dict) else value


def _service_tag(event: dict[str, Any]) -> str | None:
    for tag in event.get("tags") or []:
        if isinstance(tag, dict) and tag.get("type") == "service" and tag.get("value"):
            return str(tag["value"])
    return None


def _actor(created_by: Any) -> dict[str, Any] | None:
    if not isinstance(created_by, str) or not created_by:
        return None
    kind = "automation" if AUTOMATION.search(created_by) else "human"
    return {"id": created_by, "kind": kind}


def flag_change(event: Any) -> FlagChange | None:
    """One Unleash event as a ``config.changed`` (target from the event and its tags; the
    caller may add a service or an environment), or None for a type that is not mapped."""
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise FeedError("an Unleash event is an object with a type")
    values = _values(event["type"], event)
    if values is None or not event.get("featureName"):
        return None
    if event.get("id") is None or not isinstance(event.get("createdAt"), str):
        raise FeedError(f"the Unleash event {event['type']} has no id or createdAt")
    before, after, percent = values
    target = {"service": _service_tag(event), "environment": event.get("environment")}
    data: dict[str, Any] = {
        "kind": "feature_flag",
        "target": {name: value for name, value in target.items() if value},
        "key": str(event["featureName"]),
        "from": before,
        "to": after,
        "fleet_percent": percent,
        "actor": _actor(event.get("createdBy")),
        "change_ref": f"unleash:{event['id']}",
        "action": event["type"],
        "project": event.get("project"),
    }
    data = {name: value for name, value in data.items() if value is not None}
    return FlagChange(f"unleash-{event['id']}", event["createdAt"], data)


def unleash_events(payload: Any) -> list[Any]:
    """The events of a webhook body, a list of events or the events API's answer."""
    if isinstance(payload, dict) and isinstance(payload.get("events"), list):
        return payload["events"]
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        return [payload]
    raise FeedError('expected an Unleash event, a list of them, or {"events": [...]}')
