"""``provledger people import``: a people directory → ``person.registered`` for changed levels.

What changed is known by asking the ledger, through the API's read-only SQL (``person_levels``,
each person's latest registration), not from event ids: a registration takes effect from the
import's time, so the same level imported twice would be two different events, and a level
that goes back (senior, then mid, then senior) must be registered again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from provenance_ledger.ledger.settings import Settings
from provenance_ledger.producers import directory, inputfile, people
from provenance_ledger.producers.cli_emit import DEFAULT_FORMAT, delivery_options, send_or_spool
from provenance_ledger.producers.envelope import InvalidEvent, build_event
from provenance_ledger.query.cli.output import json_option, print_json
from provenance_ledger.schemas.codec import DecodedEvent
from provenance_ledger.schemas.errors import RemoteError, UsageProblem

MAX_FILE_BYTES = 32 * 1024 * 1024
PAGE = 5000
CURRENT = (
    "SELECT person_id, level, team FROM person_levels WHERE valid_to IS NULL "
    f"AND person_id > $after ORDER BY person_id LIMIT {PAGE}"
)
READERS = {
    "csv": lambda text, levels: directory.read_csv(text, levels.columns),
    "scim": lambda text, levels: directory.read_scim(text),
    "backstage": lambda text, levels: directory.read_backstage(text),
}


def read_text(path: Path, what: str) -> str:
    """The file's text, refusing what no export is: huge, binary, unreadable."""
    return inputfile.read_text(path, MAX_FILE_BYTES, f"the {what} {path}")


def current_levels(settings: Settings) -> people.Current:
    """Each registered person's latest level and team, read page by page (keyset on the id,
    so an answer cut at the server's row or size cap only makes one more page)."""
    from provenance_ledger.query.cli.client import api_post

    current: people.Current = {}
    after = ""
    while True:
        answer = api_post(settings, "/v1/sql", {"sql": CURRENT, "params": {"after": after}})
        rows = answer.get("rows") if isinstance(answer, dict) else None
        if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == 3 for r in rows):
            raise RemoteError("the API's SQL answer has no rows of (person, level, team)", 200)
        for person_id, level, team in rows:
            current[str(person_id)] = (level, team)
        if not rows or (len(rows) < PAGE and not answer.get("truncated")):
            return current
        after = str(rows[-1][0])


def registration_events(plan: people.Plan, source: str, at: datetime) -> list[DecodedEvent]:
    events = []
    for data in plan.registrations:
        person_id = data["person"]["id"]
        try:
            events.append(
                build_event(
                    "person.registered",
                    data,
                    source,
                    subject=person_id,
                    time=at,
                    event_id=people.event_id(data, at.isoformat()),
                )
            )
        except InvalidEvent as exc:
            raise UsageProblem(f"{person_id}: {exc}") from exc
    return events


@click.group("people")
def people_group() -> None:
    """Register people's levels from the directory they are kept in.

    \b
    Example:
      provledger people import staff.csv --format csv --levels levels.yaml
    """


@people_group.command("import", epilog="Exit 3 when the API does not answer (see --all).")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "kind",
    type=click.Choice(sorted(READERS)),
    required=True,
    help="csv: a CSV export with a header row; scim: SCIM 2.0 Users JSON (a User, "
    "a list, or a ListResponse); backstage: catalog files with kind: User.",
)
@click.option(
    "--levels",
    "levels_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML mapping titles and grades to levels (exact or pattern, first match wins).",
)
@click.option("--source", help="CloudEvents source (default: directory/FORMAT).")
@click.option(
    "--all",
    "everyone",
    is_flag=True,
    help="Register everyone listed, without asking the API what the ledger holds.",
)
@click.option("--dry-run", is_flag=True, help="Print what would be registered; emit nothing.")
@delivery_options("the events")
@json_option("Print the registrations, the unchanged count and who has no level as JSON.")
@click.pass_obj
def import_people(
    settings: Settings,
    path: Path,
    kind: str,
    levels_path: Path,
    source: str | None,
    everyone: bool,
    dry_run: bool,
    timeout_s: float,
    strict: bool,
    as_json: bool,
) -> None:
    """Emit person.registered for each person of PATH whose level (from --levels) or team
    differs from the ledger's, as of now; an unchanged person emits nothing, so importing
    the same directory again stores nothing new. The ledger's levels come from the API
    (PROVLEDGER_API, a read token); --all skips that and registers everyone.

    \b
    Example:
      provledger people import staff.csv --format csv --levels levels.yaml --dry-run
      provledger people import users.json --format scim --levels levels.yaml --json
    """
    levels = people.load_levels(read_text(levels_path, "levels file"), str(levels_path))
    try:
        listed = READERS[kind](read_text(path, f"{kind} file"), levels)
    except directory.DirectoryError as exc:
        raise inputfile.UnreadableFile(f"{path}: {exc}") from exc
    plan = people.plan(listed, levels, None if everyone else current_levels(settings))
    at = datetime.now(UTC)
    events = registration_events(plan, source or f"directory/{kind}", at)
    delivered = None
    if events and not dry_run:
        delivered = send_or_spool(settings, events, DEFAULT_FORMAT, timeout_s, strict)
    _report(listed, plan, events, dry_run, delivered, at, as_json)


def _report(
    listed: directory.Directory,
    plan: people.Plan,
    events: list[DecodedEvent],
    dry_run: bool,
    delivered: bool | None,
    at: datetime,
    as_json: bool,
) -> None:
    warnings = listed.warnings + (
        [f"{listed.more_warnings} more warnings"] if listed.more_warnings else []
    )
    if as_json:
        print_json(_document(plan, events, warnings, dry_run, delivered, at))
        return
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    for event in events:
        person = (event.event.data or {})["person"]
        was = plan.previous.get(person["id"])
        click.echo(f"{person['id']}  {person['level']}  ({f'was {was}' if was else 'new'})")
    unmapped = len(plan.unmapped) + plan.more_unmapped
    if unmapped:
        click.echo(
            f"warning: no level for {unmapped} people (no rule matched their title or "
            f"grade), e.g. {', '.join(plan.unmapped[:3])}",
            err=True,
        )
    verb = "would register" if dry_run else "registered"
    click.echo(f"{verb} {len(events)} people; {plan.unchanged} unchanged", err=True)


def _document(
    plan: people.Plan,
    events: list[DecodedEvent],
    warnings: list[str],
    dry_run: bool,
    delivered: bool | None,
    at: datetime,
) -> dict[str, Any]:
    registered = []
    for event in events:
        person = (event.event.data or {})["person"]
        registered.append(
            {
                "id": event.event.id,
                "person": person,
                "previous_level": plan.previous.get(person["id"]),
            }
        )
    return {
        "time": at.isoformat(),
        "registered": registered,
        "unchanged": plan.unchanged,
        "unmapped": plan.unmapped,
        "more_unmapped": plan.more_unmapped,
        "warnings": warnings,
        "dry_run": dry_run,
        "delivered": delivered,
    }
