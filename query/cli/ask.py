"""Commands that ask the API questions: ``suspects``, ``check``."""

from __future__ import annotations

from datetime import datetime

import click
from rich.console import Console
from rich.table import Table

from provenance_ledger.ledger.settings import Settings
from provenance_ledger.query.cli.client import api_get
from provenance_ledger.query.cli.output import json_option, print_json
from provenance_ledger.query.policy.definitions import DEFAULT_LOOKBACK
from provenance_ledger.schemas.errors import Finding


@click.command(epilog="Exit 4 when the API does not know INCIDENT, 3 when it does not answer.")
@click.argument("incident")
@click.option(
    "--lookback",
    default=DEFAULT_LOOKBACK,
    show_default=True,
    help="How far before impact start to look (30m, 24h, 7d).",
)
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 100))
@json_option("Print the API's JSON.")
@click.pass_obj
def suspects(settings: Settings, incident: str, lookback: str, limit: int, as_json: bool) -> None:
    """Rank the deployments, agent actions and configuration changes (on INCIDENT's services
    and their registered dependencies) that most likely caused INCIDENT, with why.

    \b
    Example:
      provledger suspects INC-1042 --lookback 6h
      provledger suspects INC-1042 --json | jq '.suspects[0]'
    """
    body = api_get(
        settings, f"/v1/incidents/{incident}/suspects", {"lookback": lookback, "limit": limit}
    )
    if as_json:
        print_json(body)
        return
    found = body["incident"]
    impact = datetime.fromisoformat(found["impact_started_at"])
    console = Console()
    resolved = f", resolved {found['resolved_at']}" if found.get("resolved_at") else ""
    where = f" in {found['environment']}" if found.get("environment") else ""
    console.print(
        f"[bold]{found['incident']}[/] {found.get('title') or ''} ({found['severity']}): "
        f"{', '.join(found['services'])}{where}, impact from {found['impact_started_at']}"
        f"{resolved}"
    )
    table = Table(show_lines=True)
    for column in ("#", "score", "what", "when", "changes", "why"):
        table.add_column(column)
    for suspect in body["suspects"]:
        changes = "\n".join(_change_line(change) for change in suspect["changes"]) or "-"
        why = "\n".join(reason["detail"] for reason in suspect["reasons"])
        table.add_row(
            str(suspect["rank"]),
            f"{suspect['score']:.2f}",
            _what(suspect),
            _before(impact, datetime.fromisoformat(suspect["time"])),
            changes,
            why,
        )
    console.print(table)
    if not body["suspects"]:
        console.print(
            f"no deployments, agent actions or config changes in the {lookback} before impact"
        )


def _what(suspect: dict) -> str:
    where = f"{suspect['service'] or '*'}/{suspect['environment'] or '*'}"
    action = suspect.get("action")
    config = suspect.get("config")
    if suspect["kind"] == "agent_action" and action:
        destructive = "destructive " if action["destructive"] else ""
        head = f"{destructive}{action['action']} by {action.get('tool') or 'an agent'}"
    elif suspect["kind"] == "config_change" and config:
        subject = config.get("key") or config.get("resource")
        parts = (config["kind"], subject, config.get("action") or "change")
        head = " ".join(part for part in parts if part)
    else:
        head = "deployment"
    via = f"\nvia {' → '.join(suspect['path'])}" if suspect.get("path") else ""
    return f"{head}\n{where}{via}\n{suspect['event_id']}"


def _before(impact: datetime, when: datetime) -> str:
    minutes = (impact - when).total_seconds() / 60
    if minutes < 0:
        return f"{-minutes:.0f} min after impact"
    if minutes < 120:
        return f"{minutes:.0f} min before"
    return f"{minutes / 60:.1f} h before"


def _change_line(change: dict) -> str:
    head = f"{change['repo']}@{change['commit'][:10]} by {change.get('author') or 'unknown'}"
    if not change.get("ai"):
        return f"{head} (no AI)"
    tools = ", ".join(
        " ".join(part for part in (ai["tool"], ai.get("model"), ai.get("mode")) if part)
        for ai in change["ai"]
    )
    senior = "senior-approved" if change.get("senior_approved") else "NO senior approval"
    return f"{head} ({tools}; {senior})"


@click.command(
    epilog="Exit 0 compliant, 1 not compliant, 2 anything else: the ledger does not know the "
    "commit or change, the API does not answer, a bad flag (the message says which)."
)
@click.option("--repo", help="Repository as org/name (with --commit).")
@click.option("--commit", "sha", help="The 40-hex commit (revision) to check.")
@click.option(
    "--config-change",
    metavar="EVENT_ID",
    help="Check a configuration change instead: the id of its config.changed event.",
)
@json_option("Print the API's answer: compliant, violations, what was checked.")
@click.pass_obj
def check(
    settings: Settings, repo: str | None, sha: str | None, config_change: str | None, as_json: bool
) -> None:
    """Policy gate for CI: is this commit (or configuration change) compliant with the
    policy rules?

    Each violation is printed with what to do. The rules are the API's (PROVLEDGER_POLICY on
    the server, else the packaged defaults).

    \b
    Example:
      provledger check --repo acme/checkout --commit "$(git rev-parse HEAD)"
      provledger check --config-change tf-apply-8812
    """
    if config_change is not None and not (repo or sha):
        params, what = {"config_change": config_change}, f"configuration change {config_change}"
    elif config_change is None and repo and sha:
        params, what = {"repo": repo, "commit": sha}, f"{repo}@{sha}"
    else:
        raise click.UsageError("give --repo and --commit, or --config-change alone")
    body = api_get(settings, "/v1/policy/check", params)
    if as_json:
        print_json(body)
    else:
        for item in body.get("checked", []):
            click.echo(f"checked {item}")
        for item in body.get("ignored", []):
            click.echo(f"ignored by {item['rule']}: {item['detail']}")
        if body["compliant"]:
            click.echo(f"compliant: {what}")
        for violation in body["violations"]:
            click.echo(f"VIOLATION {violation['rule']}: {violation['detail']}", err=True)
    if not body["compliant"]:
        count = len(body["violations"])
        raise Finding(f"{what} is not compliant ({count} violation{'s' * (count != 1)})")
