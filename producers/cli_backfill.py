"""``provledger backfill git``: one change.authored per commit of a repository's history."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from provenance_ledger.ledger.settings import Settings
from provenance_ledger.producers.ai_detect import load_rules
from provenance_ledger.producers.backfill import (
    Report,
    backfill_source,
    change_event,
    changes,
    repo_name,
)
from provenance_ledger.producers.cli_emit import DEFAULT_FORMAT, send_or_spool
from provenance_ledger.producers.emitter import FORMATS
from provenance_ledger.producers.gitlog import GitError, git
from provenance_ledger.query.cli.output import json_option, print_json
from provenance_ledger.schemas.events import ChangeAuthored


def _progress() -> Progress:
    """A bar with commits/s on stderr, only when a person watches it."""
    console = Console(stderr=True)
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} commits"),
        TextColumn("{task.fields[rate]:,.0f} commits/s"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    )


def _count(path: str, since: str | None) -> int | None:
    try:
        return int(
            git(path, "rev-list", "--count", *([f"--since={since}"] if since else []), "HEAD")
        )
    except (GitError, ValueError):
        return None


@click.group()
def backfill() -> None:
    """Emit history the ledger has not seen.

    \b
    Example:
      provledger backfill git . --since 2025-01-01
    """


@backfill.command("git", epilog="Exit 5 when git cannot read PATH (not a repository).")
@click.argument("path", default=".", type=click.Path(exists=True, file_okay=False))
@click.option("--since", help="Only commits after this date (anything git log --since takes).")
@click.option("--repo", help="The repo name, org/name (default: from the origin remote).")
@click.option("--dry-run", is_flag=True, help="Read and report; send nothing.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=DEFAULT_FORMAT)
@click.option("--timeout", "timeout_s", default=10.0, show_default=True, help="Seconds to wait.")
@json_option("Print the report (commits, AI-assisted ones by tool, what was skipped) as JSON.")
@click.pass_obj
def backfill_git(
    settings: Settings,
    path: str,
    since: str | None,
    repo: str | None,
    dry_run: bool,
    fmt: str,
    timeout_s: float,
    as_json: bool,
) -> None:
    """One change.authored per commit of PATH (default: the current repository), with
    author, files, lines, message and the AI assistance its git-ai note (refs/notes/ai),
    Agent Trace records (.agent-trace/traces.jsonl), trailers and authors show.
    Event ids come from repo + commit, so running it again stores nothing new.

    \b
    Example:
      provledger backfill git ~/src/shop --since 2025-01-01 --dry-run
      provledger backfill git .
    """
    name = repo or repo_name(path)
    report = Report()
    delivered = _send_history(settings, path, name, since, dry_run, fmt, timeout_s, report)
    if as_json:
        print_json(_report_document(name, report, delivered))
        return
    verb = "would emit" if dry_run else "emitted"
    click.echo(f"{verb} change.authored for {report.summary()}", err=True)


def _send_history(
    settings: Settings,
    path: str,
    name: str,
    since: str | None,
    dry_run: bool,
    fmt: str,
    timeout_s: float,
    report: Report,
) -> bool | None:
    """Emit (or with ``dry_run`` only validate) each commit's change.authored, in batches;
    whether every event reached Kafka (None for a dry run). Once Kafka was away, the rest is
    spooled without waiting for it again, so one away batch means not all were delivered."""
    rules = load_rules(settings.producer.ai_rules)
    source = backfill_source(name)
    batch: list = []
    away = False
    with _progress() as progress:
        total = None if progress.disable else _count(path, since)
        task = progress.add_task(f"backfill {name}", total=total, rate=0.0)
        for event_id, data, at in changes(path, name, since=since, rules=rules, report=report):
            if dry_run:
                ChangeAuthored.model_validate(data)  # what would be sent is valid
            else:
                batch.append(change_event(event_id, data, source, at))
                if len(batch) >= 2000:
                    away = not send_or_spool(settings, batch, fmt, timeout_s, False,
                                             quiet=True, spool_only=away)  # fmt: skip
                    batch = []
            if report.commits % 500 == 0:
                progress.update(task, completed=report.commits, rate=report.rate)
        progress.update(task, completed=report.commits, rate=report.rate)
    if batch:
        away = not send_or_spool(settings, batch, fmt, timeout_s, False, quiet=True,
                                 spool_only=away)  # fmt: skip
    return None if dry_run else not away


def _report_document(name: str, report: Report, delivered: bool | None) -> dict[str, Any]:
    skipped = report.skipped
    return {
        "repo": name,
        "dry_run": delivered is None,
        "commits": report.commits,
        "ai_commits": report.ai_commits,
        "tools": dict(report.tools.most_common()),
        "elapsed_s": round(report.elapsed_s, 3),
        "delivered": delivered,
        "skipped": {
            "shallow": len(skipped.shallow),
            "missing_trees": len(skipped.missing_trees),
            "missing_blobs": len(skipped.missing_blobs),
            "unreadable": len(skipped.unreadable),
        },
        "attribution": report.attribution.document(),
    }
