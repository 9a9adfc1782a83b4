"""``provledger catalog import``: Backstage catalog files → ``service.registered`` events."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from provenance_ledger.ledger.settings import Settings
from provenance_ledger.producers import catalog
from provenance_ledger.producers.cli_emit import (
    Rfc3339,
    delivery_options,
    format_option,
    send_or_spool,
)
from provenance_ledger.producers.envelope import InvalidEvent, build_event
from provenance_ledger.producers.gitproc import GitError, git
from provenance_ledger.producers.inputfile import read_text
from provenance_ledger.query.cli.output import json_option, print_json
from provenance_ledger.schemas.codec import DecodedEvent
from provenance_ledger.schemas.errors import UsageProblem

DEFAULT_SOURCE = "catalog/backstage"


def commit_time(path: Path) -> datetime | None:
    """When the file last changed in git: the commit time of the last commit that touched it,
    if git tracks it and it has no uncommitted change; else None."""
    folder, name = path.resolve().parent, path.name
    try:
        if git(folder, "status", "--porcelain", "--", name).strip():
            return None
        stamp = git(folder, "log", "-1", "--format=%cI", "--", name).strip()
    except (GitError, OSError):
        return None
    return datetime.fromisoformat(stamp) if stamp else None


def registration_events(
    found: list[catalog.Registration], times: dict[str, datetime], source: str
) -> list[DecodedEvent]:
    events = []
    for registration in found:
        time = times[registration.path].astimezone(UTC)
        data = registration.data
        try:
            events.append(
                build_event(
                    "service.registered",
                    data,
                    source,
                    event_id=catalog.event_id(data, time.isoformat()),
                    time=time,
                    subject=data["service"],
                )
            )
        except InvalidEvent as exc:
            raise UsageProblem(f"{registration.path}: {data['service']}: {exc}") from exc
    return events


def _times(paths: list[Path], as_of: datetime | None) -> tuple[dict[str, datetime], list[str]]:
    now = datetime.now(UTC).replace(microsecond=0)
    times: dict[str, datetime] = {}
    unstable: list[str] = []
    for path in paths:
        known = as_of or commit_time(path)
        if known is None:
            unstable.append(str(path))
        times[str(path)] = known or now
    return times, unstable


def _summary(event: DecodedEvent) -> dict[str, Any]:
    return {"id": event.event.id, "time": event.event.time.isoformat(), **(event.event.data or {})}


@click.group()
def catalog_group() -> None:
    """Register services and their dependencies from a service catalog.

    \b
    Example:
      provledger catalog import catalog-info.yaml
    """


@catalog_group.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--as-of",
    type=Rfc3339(),
    help="When the registrations took effect (default: each file's last git commit time).",
)
@click.option("--source", default=DEFAULT_SOURCE, show_default=True, help="CloudEvents source.")
@click.option("--dry-run", is_flag=True, help="Print the registrations; emit nothing.")
@format_option
@delivery_options("the events")
@json_option("Print the registrations (and whether they were delivered) as JSON.")
@click.pass_obj
def import_catalog(
    settings: Settings,
    paths: tuple[Path, ...],
    as_of: datetime | None,
    source: str,
    dry_run: bool,
    fmt: str,
    timeout_s: float,
    strict: bool,
    as_json: bool,
) -> None:
    """Emit one service.registered per Component (not libraries) and Resource of the
    Backstage catalog files PATHS: its dependencies (spec.dependsOn, and the providers of the
    APIs in spec.consumesApis), owner, tier (annotation provledger.dev/tier or label tier)
    and repositories (annotations github.com/project-slug, gitlab.com/project-slug).

    Importing an unchanged catalog again stores nothing new: a registration's id derives from
    its content and its time, and its time is when its file last changed in git (--as-of
    overrides it). A file git does not track, or with uncommitted changes, takes the current
    time, so each import of it registers its services again (harmless, but noise).

    \b
    Example:
      provledger catalog import catalog-info.yaml services/*/catalog-info.yaml --dry-run
      provledger catalog import all-entities.yaml --as-of 2026-11-26T09:00:00Z --json
    """
    found = catalog.Catalog()
    for path in paths:
        text = read_text(
            path, catalog.MAX_FILE_BYTES, advice="; split the catalog into several files"
        )
        catalog.parse(text, str(path), found)
    registrations = catalog.registrations(found)
    times, unstable = _times(list(paths), as_of)
    for warning in found.warnings:
        click.echo(f"warning: {warning}", err=True)
    if unstable and not as_of:
        click.echo(
            f"warning: {', '.join(unstable)}: not committed in git; registered as of now, so "
            "importing it again registers again (commit it, or pass --as-of)",
            err=True,
        )
    events = registration_events(registrations, times, source)
    delivered = None
    if not dry_run and events:
        delivered = send_or_spool(settings, events, fmt, timeout_s, strict)
    if as_json:
        print_json(
            {
                "registrations": [_summary(event) for event in events],
                "dry_run": dry_run,
                "delivered": delivered,
                "warnings": found.warnings,
            }
        )
        return
    for event in events:
        data = event.event.data or {}
        depends = ", ".join(data.get("depends_on") or []) or "nothing"
        click.echo(f"{event.event.id}  {data['service']} → {depends}")
    verb = "would emit" if dry_run else "emitted"
    click.echo(f"{verb} {len(events)} registration(s) from {len(paths)} file(s)", err=True)
