"""``provledger emit``: publish one event."""

from __future__ import annotations

import getpass
import json
import socket
import sys
from datetime import datetime
from typing import Any

import click

from ledger.settings import Settings
from producers.emitter import FORMATS, Emitter
from producers.envelope import InvalidEvent, build_event


def _read_data(data: str | None, positional: str | None) -> dict[str, Any]:
    raw = data if data is not None else positional
    if raw is None:
        raise click.UsageError("give the event data: --data JSON, --data @file or - for stdin")
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
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--data") from exc
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


@click.command()
@click.argument("event_type", metavar="TYPE")
@click.argument("positional_data", metavar="[-]", required=False)
@click.option("--data", help="The event's data: JSON, @file, or - for stdin.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="json",
    show_default=True,
    help="avro: CloudEvents binary mode; json: structured mode.",
)
@click.option("--source", help="CloudEvents source (default: cli/USER@HOST).")
@click.option("--id", "event_id", help="Event id (default: a new UUID). Reuse it to retry safely.")
@click.option(
    "--time",
    "event_time",
    type=Rfc3339(),
    help="When it happened, RFC 3339 with offset (default: now).",
)
@click.option("--subject", help="CloudEvents subject.")
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
) -> None:
    """Publish one event of TYPE (e.g. change.authored or its full name
    dev.provledger.change.authored.v1) to the ledger's Kafka topic.

    \b
    Example:
      provledger emit incident.opened --data '{"incident": "INC-7", "severity": "sev2",
          "services": ["checkout"], "environment": "prod"}'
      provledger emit change.authored --data @change.json --format json
    """
    payload = _read_data(data, positional_data)
    try:
        decoded = build_event(
            event_type,
            payload,
            source or default_source(),
            event_id=event_id,
            time=event_time,
            subject=subject,
        )
    except InvalidEvent as exc:
        raise click.ClickException(f"invalid event: {exc}") from exc
    with Emitter(settings.kafka_bootstrap, settings.topic, fmt=fmt) as emitter:
        try:
            emitter.publish(decoded)
        except Exception as exc:
            raise click.ClickException(
                f"could not publish to Kafka at {settings.kafka_bootstrap}: {exc}"
            ) from exc
    click.echo(decoded.event.id)
