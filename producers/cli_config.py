"""``provledger emit config.changed --from-terraform PLAN | --from-unleash EVENTS``: the
configuration changes another tool reports, as ``config.changed`` events (one per change)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click

from provenance_ledger.ledger.settings import Settings
from provenance_ledger.producers import ci_context, flags, inputfile, terraform
from provenance_ledger.producers.envelope import InvalidEvent, build_event
from provenance_ledger.query.cli.output import print_json
from provenance_ledger.schemas.codec import DecodedEvent
from provenance_ledger.schemas.errors import UsageProblem

MAX_INPUT_BYTES = 64 * 1024 * 1024
UNLEASH_SOURCE = "flags/unleash"


@dataclass(frozen=True)
class ToolInput:
    """What the command line gave: the tool's output and what to add to every change."""

    terraform: str | None
    unleash: str | None
    base: dict[str, Any]
    service: str | None
    environment: str | None
    source: str | None
    time: datetime | None


def load_json(name: str) -> Any:
    """A file's (or stdin's, for ``-``) JSON, bounded in size."""
    raw = inputfile.read_bytes(name, MAX_INPUT_BYTES)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise UsageProblem(f"{name} is not JSON: {exc}") from exc


def _with_base(data: dict[str, Any], given: ToolInput, ctx: ci_context.CiContext | None) -> dict:
    """A change with the fields the caller gave (``--data``, ``--service``, ``--environment``)
    and, in CI, its repo, commit, actor and run as defaults."""
    base_target = given.base.get("target", {})
    if not isinstance(base_target, dict):
        raise UsageProblem("--data: target must be an object")
    target = {**base_target, **data.get("target", {})}
    explicit = {"service": given.service, "environment": given.environment}
    target.update({name: value for name, value in explicit.items() if value})
    merged = {**given.base, **data, "target": target}
    if ctx is not None and given.terraform is not None:
        defaults: dict[str, Any] = {
            "repo": ctx.repo,
            "commit": ctx.commit,
            "change_ref": ctx.run_url,
        }
        if ctx.actor:
            defaults["actor"] = {"id": ctx.actor, "kind": ctx.actor_kind}
        merged = {**{k: v for k, v in defaults.items() if v}, **merged}
    return merged


def tool_events(
    given: ToolInput, ctx: ci_context.CiContext | None
) -> tuple[list[DecodedEvent], list[str]]:
    built: list[DecodedEvent] = []
    skipped: list[str] = []

    def add(data: dict[str, Any], source: str, **envelope: Any) -> None:
        data = _with_base(data, given, ctx)
        if not (data["target"].get("service") or data["target"].get("environment")):
            skipped.append(f"{data.get('key')}: no service or environment to place it in "
                           "(give --service or --environment)")  # fmt: skip
            return
        try:
            built.append(build_event("config.changed", data, source, **envelope))
        except InvalidEvent as exc:
            raise UsageProblem(f"{data.get('key')}: {exc}") from exc

    if given.terraform is not None:
        source = given.source or (ctx.source if ctx else "cli/terraform")
        time = given.time or datetime.now(UTC)
        for data in terraform.plan_changes(load_json(given.terraform)):
            add(data, source, time=time, subject=given.service)
    if given.unleash is not None:
        for event in flags.unleash_events(load_json(given.unleash)):
            change = flags.flag_change(event)
            if change is None:
                continue
            time = datetime.fromisoformat(change.time)
            add(change.data, given.source or UNLEASH_SOURCE, event_id=change.event_id, time=time)
    return built, skipped


def emit_tool_changes(
    settings: Settings,
    event_type: str,
    given: ToolInput,
    send: Callable[[list[DecodedEvent]], bool],
    as_json: bool,
) -> None:
    """Emit the changes of ``given``'s tool output; ``send`` delivers (or spools) a list."""
    if event_type != "config.changed":
        raise UsageProblem("--from-terraform and --from-unleash emit config.changed only")
    built, skipped = tool_events(given, ci_context.detect())
    for reason in skipped:
        click.echo(f"warning: skipped {reason}", err=True)
    delivered = send(built) if built else None
    if as_json:
        print_json(
            {
                "events": [{"id": item.event.id, **(item.event.data or {})} for item in built],
                "delivered": delivered,
                "skipped": skipped,
                "topic": settings.topic,
            }
        )
        return
    for item in built:
        click.echo(item.event.id)
