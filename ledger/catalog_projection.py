"""The projection of CONTRACT §5's catalog and configuration events: service registrations
and configuration changes. Pure, like ledger/projection.py, which dispatches to it.

Which registration stands at a time, and the dependency graph it gives, are views
(ledger/views/60_dependencies.sql): a row here never depends on another event.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from provenance_ledger.schemas import events as ev
from provenance_ledger.schemas.decoded import canonical_text

Tuples = dict[str, list[tuple[Any, ...]]]

TABLES: dict[str, tuple[str, ...]] = {
    "service_registrations": (
        "service", "owner", "tier", "repos", "depends_on", "valid_from", "event_id",
        "event_source", "event_seq",
    ),
    "config_changes": (
        "event_id", "event_source", "kind", "target_service", "target_environment",
        "target_region", "target_resource", "key", "from_value", "to_value", "fleet_percent",
        "actor_id", "actor_name", "actor_kind", "repo", "commit", "ai_assisted", "ai_tools",
        "change_ref", "action", "changed_at", "event_seq",
    ),
    "config_change_ai": ("event_seq", "tool", "model", "mode", "lines", "session"),
}  # fmt: skip


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def service_registered(
    fact: ev.ServiceRegistered, event: ev.CloudEvent, seq: int, out: Tuples
) -> None:
    out["service_registrations"].append(
        (
            fact.service,
            fact.owner,
            fact.tier,
            _unique(fact.repos),
            _unique(fact.depends_on),
            event.time,
            event.id,
            event.source,
            seq,
        )
    )


def _values_as_json(event: ev.CloudEvent) -> tuple[str | None, str | None]:
    """``from`` and ``to`` as the text of their canonical JSON (sorted keys, no nulls, whole
    floats as integers): the same value gives the same text whichever mode carried it, so
    SQL can compare one change's ``to_value`` with another's ``from_value``. A null one is
    absent, as in the canonical bytes."""
    data = event.data or {}

    def text(name: str) -> str | None:
        value = data.get(name)
        return None if value is None else canonical_text(value)

    return text("from"), text("to")


def config_changed(fact: ev.ConfigChanged, event: ev.CloudEvent, seq: int, out: Tuples) -> None:
    target, actor = fact.target, fact.actor
    from_value, to_value = _values_as_json(event)
    action = (fact.model_extra or {}).get("action")
    tools = _unique(ai.tool.lower() for ai in fact.ai)
    out["config_changes"].append(
        (
            event.id,
            event.source,
            fact.kind.lower(),
            target.service,
            target.environment,
            target.region,
            target.resource,
            fact.key,
            from_value,
            to_value,
            fact.fleet_percent,
            actor.id.lower() if actor else None,
            actor.name if actor else None,
            actor.kind if actor else None,
            fact.repo,
            fact.commit.lower() if fact.commit else None,
            bool(fact.ai),
            tools,
            fact.change_ref,
            action if isinstance(action, str) else None,
            event.time,
            seq,
        )
    )
    if fact.ai:  # no empty entry: the writer transposes every table it is given
        out["config_change_ai"].extend(
            (seq, ai.tool.lower(), ai.model, ai.mode, ai.lines, ai.session) for ai in fact.ai
        )
