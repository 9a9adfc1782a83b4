"""``provledger emit``: publish one event; never fails a build because Kafka is away."""

from __future__ import annotations

import getpass
import json
import logging
import socket
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from provenance_ledger.ledger.settings import Settings
from provenance_ledger.producers import ci_context
from provenance_ledger.producers.ai_detect import load_rules
from provenance_ledger.producers.delivery import Outcome, deliver
from provenance_ledger.producers.emit_git import (
    change_from_git,
    deployed_commits,
    fold_journal,
    head_of,
)
from provenance_ledger.producers.emitter import FORMATS, Emitter, to_spooled
from provenance_ledger.producers.envelope import InvalidEvent, build_event
from provenance_ledger.producers.formats import DEFAULT_FORMAT
from provenance_ledger.producers.spool import Spool
from provenance_ledger.query.cli.output import json_option, print_json
from provenance_ledger.schemas import jsonsafe
from provenance_ledger.schemas.codec import DecodedEvent
from provenance_ledger.schemas.commandline import runnable
from provenance_ledger.schemas.errors import LocalFailure, Unreachable, UsageProblem
from provenance_ledger.schemas.events import full_type, short_type

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

format_option: Decorator = click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=DEFAULT_FORMAT,
    show_default=True,
    help="avro: CloudEvents binary mode; json: structured mode.",
)
"""``--format`` of every command that sends events to Kafka."""


def delivery_options(what: str) -> Decorator:
    """``--timeout`` and ``--strict`` of a command that sends ``what`` (``the events``)."""
    timeout = click.option(
        "--timeout", "timeout_s", default=5.0, show_default=True, help="Seconds to wait."
    )
    strict = click.option("--strict", is_flag=True, help=f"Exit 3 when {what} had to be spooled.")
    return lambda command: timeout(strict(command))


def _read_data(data: str | None, positional: str | None) -> dict[str, Any] | None:
    raw = data if data is not None else positional
    if raw is None:
        return None
    if raw == "-":
        text = sys.stdin.read()
    elif raw.startswith("@"):
        try:
            with open(raw[1:], encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise click.BadParameter(
                f"cannot read {raw[1:]}: {exc.strerror}", param_hint="--data"
            ) from exc
    else:
        text = raw
    try:
        # The ledger's parser: deep nesting, NaN or a 5,000-digit number is an error, not a crash.
        parsed = jsonsafe.loads(text, "the data")
    except jsonsafe.JsonProblem as exc:
        raise click.BadParameter(exc.detail, param_hint="--data") from exc
    if not isinstance(parsed, dict):
        raise click.BadParameter("the data must be a JSON object", param_hint="--data")
    return parsed


class Rfc3339(click.ParamType):
    name = "RFC3339"

    def convert(self, value, param, ctx) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not an RFC 3339 time like 2026-11-26T14:05:00Z", param, ctx)
        if parsed.tzinfo is None:
            self.fail(f"{value!r} needs a UTC offset (Z or +01:00)", param, ctx)
        return parsed


def default_source() -> str:
    return f"cli/{getpass.getuser()}@{socket.gethostname()}"


def send_or_spool(
    settings: Settings,
    events: list[DecodedEvent],
    fmt: str,
    timeout_s: float,
    strict: bool,
    quiet: bool = False,
    spool_only: bool = False,
) -> bool:
    """Deliver; on broker trouble spool, warn on stderr, and fail only with ``strict``.

    Returns whether everything reached Kafka. ``spool_only`` skips the broker (it was just
    found away: a backfill does not wait for it once per batch).
    """
    spool = Spool(settings.producer.spool_dir)
    if logging.getLogger().getEffectiveLevel() >= logging.WARNING:
        # kafka-python logs every refused connection; the one warning below says it all.
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    emitter = Emitter(settings.kafka_bootstrap, settings.topic, fmt=fmt, timeout_s=timeout_s)
    try:
        if spool_only:
            spool.append([to_spooled(event, fmt) for event in events])
            outcome = Outcome(0, len(events), 0, "the broker was away earlier in this run")
        else:
            outcome = deliver(emitter, spool, events, fmt)
    except OSError as exc:
        # Neither Kafka nor the spool: keep the events in the job's log, the last place left.
        for event in events:
            click.echo(json.dumps(to_spooled(event, fmt).event), err=True)
        message = f"cannot spool to {spool.directory} ({exc}); the events are printed above"
        if strict:
            raise LocalFailure(message) from exc
        click.echo(f"warning: {message}", err=True)
        return False
    if outcome.ok:
        emitter.close()
        if outcome.drained and not quiet:
            click.echo(f"delivered {outcome.drained} spooled events first", err=True)
        return True
    message = (
        f"warning: Kafka at {settings.kafka_bootstrap} did not take {outcome.spooled} "
        f"event(s) within {timeout_s:g}s ({outcome.error}); spooled to {spool.directory}. "
        f"`{runnable('flush')}` (or the next emit) delivers them."
    )
    if strict:
        raise Unreachable(message.removeprefix("warning: ") + " (--strict)")
    if not quiet or not spool_only:
        click.echo(message, err=True)
    return False


@click.command()
@click.argument("event_type", metavar="TYPE")
@click.argument("positional_data", metavar="[-]", required=False)
@click.option("--data", help="The event's data: JSON, @file, or - for stdin.")
@format_option
@click.option("--source", help="CloudEvents source (default: from CI, else cli/USER@HOST).")
@click.option("--id", "event_id", help="Event id (default: a new UUID). Reuse it to retry safely.")
@click.option("--time", "event_time", type=Rfc3339(), help="RFC 3339 with offset (default: now).")
@click.option("--subject", help="CloudEvents subject.")
@click.option("--service", help="service.deployed: the service.")
@click.option("--environment", help="service.deployed: the environment, e.g. prod.")
@click.option("--version", "version", help="service.deployed: the version deployed.")
@click.option("--since-commit", help="service.deployed: the previous deployed commit.")
@click.option(
    "--from-terraform",
    metavar="PLAN_JSON",
    help="config.changed: one per resource a plan changes (`terraform show -json` output).",
)
@click.option(
    "--from-unleash",
    metavar="EVENTS_JSON",
    help="config.changed: one per flag change of Unleash events (webhook body or events API).",
)
@click.option("--repo-path", default=".", show_default=True, help="The git work tree to read.")
@delivery_options("the event")
@json_option("Print the event's id, type and source, and where it went, as JSON.")
@click.pass_obj
def emit(
    settings: Settings,
    event_type: str,
    positional_data: str | None,
    data: str | None,
    fmt: str,
    source: str | None,
    event_id: str | None,
    event_time: datetime | None,
    subject: str | None,
    service: str | None,
    environment: str | None,
    version: str | None,
    since_commit: str | None,
    repo_path: str,
    timeout_s: float,
    strict: bool,
    as_json: bool,
    from_terraform: str | None = None,
    from_unleash: str | None = None,
) -> None:
    """Publish one event of TYPE (e.g. change.authored or its full name
    dev.provledger.change.authored.v1) to the ledger's Kafka topic.

    In CI (GitHub Actions, GitLab CI, Jenkins, Buildkite) the source, repo, commit, actor
    and run URL default to what the CI knows. If Kafka does not answer within --timeout
    seconds the event is spooled on disk and the command still exits 0 (warning on stderr;
    3 with --strict); `provledger flush` or the next emit delivers it.

    change.authored with no data describes HEAD from git, with AI assistance from its
    trailers and from the AI-tool hook journal. service.deployed computes `commits` from
    git: --since-commit, else the previous deployment's commit from the API.

    \b
    Example:
      provledger emit incident.opened --data '{"incident": "INC-7", "severity": "sev2",
          "services": ["checkout"], "environment": "prod"}'
      provledger emit service.deployed --service checkout --environment prod --version 1.4.2
      provledger emit change.authored          # in a git post-commit hook
      terraform show -json plan.tfplan | provledger emit config.changed --from-terraform - \
          --environment prod
    """
    if from_terraform or from_unleash:
        base = _read_data(data, positional_data) or {}
        tool = (from_terraform, from_unleash, base, service, environment, source, event_time)
        return _emit_from_tool(settings, event_type, tool, (fmt, timeout_s, strict), as_json)
    ctx = ci_context.detect()
    deployment = {"service": service, "environment": environment, "version": version}
    given = _read_data(data, positional_data)
    payload = _event_data(
        settings, event_type, given, ctx, Path(repo_path), deployment, since_commit
    )
    source = source or (ctx.source if ctx else default_source())
    decoded = _build(event_type, payload, source, event_id, event_time, subject)
    delivered = send_or_spool(settings, [decoded], fmt, timeout_s, strict)
    if as_json:
        print_json(_where_it_went(settings, decoded, delivered))
    else:
        click.echo(decoded.event.id)


def _emit_from_tool(
    settings: Settings,
    event_type: str,
    tool: tuple,
    delivery: tuple[str, float, bool],
    as_json: bool,
) -> None:
    """config.changed events read from a tool's own output (Terraform, Unleash)."""
    from provenance_ledger.producers.cli_config import ToolInput, emit_tool_changes

    fmt, timeout_s, strict = delivery

    def send(events: list) -> bool:
        return send_or_spool(settings, events, fmt, timeout_s, strict)

    return emit_tool_changes(
        settings, short_type(full_type(event_type)), ToolInput(*tool), send, as_json
    )


def _build(
    event_type: str,
    data: dict[str, Any],
    source: str,
    event_id: str | None,
    time: datetime | None,
    subject: str | None,
) -> DecodedEvent:
    try:
        return build_event(event_type, data, source, event_id=event_id, time=time, subject=subject)
    except InvalidEvent as exc:
        raise UsageProblem(f"invalid event: {exc}") from exc


def _event_data(
    settings: Settings,
    event_type: str,
    given: dict[str, Any] | None,
    ctx: ci_context.CiContext | None,
    path: Path,
    deployment: dict[str, str | None],
    since_commit: str | None,
) -> dict[str, Any]:
    """The event's data: what was given, else HEAD from git for change.authored; with what
    the CI knows, the AI-tool journal, and for a deployment its flags and the commits it ships."""
    kind = short_type(full_type(event_type))
    fold = kind == "change.authored" and (given is None or "ai" not in given)
    payload = given
    if payload is None and kind == "change.authored":
        rules = load_rules(settings.producer.ai_rules)
        payload = change_from_git(path, ctx.repo if ctx else None, rules)
    elif payload is None and kind == "service.deployed":
        payload = {}
    elif payload is None:
        raise click.UsageError("give the event data: --data JSON, --data @file or - for stdin")
    if kind == "service.deployed":
        payload.update({key: value for key, value in deployment.items() if value})
    if ctx is not None:
        payload = ci_context.fill_defaults(kind, payload, ctx)
    if fold:
        payload = fold_journal(path, payload)
    if kind == "service.deployed":
        payload = _shipped(settings, path, payload, since_commit)
    return payload


def _shipped(
    settings: Settings, path: Path, payload: dict[str, Any], since_commit: str | None
) -> dict[str, Any]:
    """A deployment's commit (HEAD unless given) and the commits it ships since the last one."""
    if "commit" not in payload:
        payload = {**head_of(path), **payload}
    if "commits" not in payload and payload.get("commit"):
        payload["commits"] = deployed_commits(settings, path, payload, since_commit)
    return payload


def _where_it_went(settings: Settings, decoded: DecodedEvent, delivered: bool) -> dict[str, Any]:
    event = decoded.event
    document: dict[str, Any] = {
        "id": event.id,
        "type": event.type,
        "source": event.source,
        "delivered": delivered,
        "topic": settings.topic,
        "kafka": settings.kafka_bootstrap,
    }
    if not delivered:
        document["spool"] = str(Spool(settings.producer.spool_dir).directory)
    return document
