"""Commands that ask the API questions: ``suspects``."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from ledger.settings import Settings
from query.client import api_get


@click.command()
@click.argument("incident")
@click.option(
    "--lookback",
    default="24h",
    show_default=True,
    help="How far before impact start to look (30m, 24h, 7d).",
)
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 100))
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@click.pass_obj
def suspects(settings: Settings, incident: str, lookback: str, limit: int, as_json: bool) -> None:
    """Rank the deployments and agent actions that most likely caused INCIDENT, with why.

    \b
    Example:
      provledger suspects INC-1042 --lookback 6h
      provledger suspects INC-1042 --json | jq '.suspects[0]'
    """
    body = api_get(
        settings, f"/v1/incidents/{incident}/suspects", {"lookback": lookback, "limit": limit}
    )
    if as_json:
        click.echo(json.dumps(body, indent=2))
        return
    found = body["incident"]
    console = Console()
    console.print(
        f"[bold]{found['incident']}[/] {found.get('title') or ''} ({found['severity']}), "
        f"services {', '.join(found['services'])}, impact from {found['impact_started_at']}"
    )
    table = Table(show_lines=True)
    for column in ("#", "score", "what", "when", "changes", "why"):
        table.add_column(column)
    for suspect in body["suspects"]:
        changes = "\n".join(_change_line(change) for change in suspect["changes"]) or "-"
        why = "\n".join(reason["detail"] for reason in suspect["reasons"])
        where = f"{suspect['service']}/{suspect['environment']}"
        what = f"{suspect['kind']} {where}\n{suspect['event_id']}"
        table.add_row(
            str(suspect["rank"]), f"{suspect['score']:.2f}", what, suspect["time"], changes, why
        )
    console.print(table)
    if not body["suspects"]:
        console.print(f"no deployments or agent actions in the {lookback} before impact")


def _change_line(change: dict) -> str:
    tools = ", ".join(ai["tool"] for ai in change.get("ai", [])) or "no AI"
    senior = "senior-approved" if change.get("senior_approved") else "NO senior approval"
    return f"{change['repo']}@{change['commit'][:10]} by {change.get('author')} ({tools}; {senior})"
