"""``provledger verify`` and ``provledger rebuild``: the ledger's own integrity commands.

DuckDB lets one process write a file or many read it, never both. With no server running
both commands open the file directly; while ``provledger serve`` holds it, ``verify`` asks
the server (admin scope) and ``rebuild`` refuses with what to do.

``verify`` exits 1 only for a verdict (tampered, or not consistent with a checkpoint); a file
that is not a ledger, a bad checkpoint file or an unreachable server exit 2, in one line.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import duckdb
import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from provenance_ledger.ledger import fileshape
from provenance_ledger.ledger.checkpoint import CheckpointError, parse
from provenance_ledger.ledger.rebuild import RebuildError, rebuild
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.verify import verify as verify_ledger


class LedgerUsageError(click.ClickException):
    """Not a verdict on the ledger: the file, the checkpoint or the server is the problem."""

    exit_code = 2


@click.command()
@click.option("--checkpoint", is_flag=True, help="Print the verified head as a C2SP checkpoint.")
@click.option(
    "--since",
    "since_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A checkpoint kept earlier: prove with an RFC 6962 consistency proof that the ledger "
    "only grew since.",
)
@click.pass_obj
def verify(settings: Settings, checkpoint: bool, since_file: Path | None) -> None:
    """Recompute the ledger's RFC 6962 Merkle log from the stored events.

    Exit 0 and print the size and root if every row is as it was written; exit 1 and print
    the first row that was changed, inserted or deleted otherwise. Keep the output of
    --checkpoint somewhere the ledger's operators cannot write, and later check that the
    ledger only grew since with --since.

    \b
    Example:
      provledger verify --checkpoint > checkpoint-2026-11-26.txt
      provledger verify --since checkpoint-2026-11-26.txt
    """
    try:
        since_text = since_file.read_text() if since_file else None
        since = parse(since_text) if since_text is not None else None
    except (OSError, UnicodeDecodeError, CheckpointError) as exc:
        raise LedgerUsageError(f"{since_file}: not a checkpoint ({exc})") from exc
    report = _local_report(settings, since)
    if report is None:
        report = _remote_report(settings, since_text)
    _print_report(report, checkpoint)
    if not report["ok"]:
        sys.exit(1)


def _local_report(settings: Settings, since) -> dict[str, Any] | None:
    path = Path(settings.db_path)
    if not path.exists():
        raise LedgerUsageError(f"no ledger at {path} (set PROVLEDGER_DB)")
    # The same cap as serve and rebuild: DuckDB otherwise keeps the blocks it read, up to 80%
    # of RAM, while verify reads the whole file.
    limit = settings.duckdb_memory_limit
    try:
        conn = duckdb.connect(
            str(path), read_only=True, config={"memory_limit": limit} if limit else {}
        )
    except duckdb.Error as exc:
        if fileshape.is_lock_error(exc):
            return None  # a server holds the file: ask it
        raise LedgerUsageError(str(fileshape.open_failure(path, exc))) from exc
    try:
        fileshape.check(conn, path)
        return verify_ledger(conn.cursor(), settings.topic, since).to_json()
    except fileshape.NotALedger as exc:
        raise LedgerUsageError(str(exc)) from exc
    except duckdb.Error as exc:  # e.g. out of memory under PROVLEDGER_DUCKDB_MEMORY_LIMIT
        reason = str(exc).strip().splitlines()[0]
        raise LedgerUsageError(f"verify could not finish reading {path}: {reason}") from exc
    finally:
        conn.close()


def _remote_report(settings: Settings, since_text: str | None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
    url = f"{settings.api_url}/v1/ledger/verify"
    try:
        response = httpx.post(url, json={"since": since_text}, headers=headers, timeout=600)
    except httpx.HTTPError as exc:
        raise LedgerUsageError(
            f"{settings.db_path} is held by another process, and the API at {settings.api_url} "
            f"does not answer ({exc}). Stop that process or set PROVLEDGER_API to its server."
        ) from exc
    try:
        body = response.json() if response.content else {}
    except ValueError as exc:
        raise LedgerUsageError(
            f"{settings.api_url} answered {response.status_code} with no JSON: is PROVLEDGER_API "
            "a provledger server?"
        ) from exc
    if response.status_code >= 400:
        raise LedgerUsageError(
            f"the server refused to verify ({response.status_code}: {body.get('error')}); "
            "verifying through the API needs a token with the admin scope (PROVLEDGER_TOKEN)"
        )
    return body


def _print_report(report: dict[str, Any], checkpoint: bool) -> None:
    problem = report["problem"]
    if problem:
        click.echo(f"TAMPERED: row seq {problem['seq']} was {problem['kind']}: {problem['detail']}")
        if problem.get("row"):
            row = problem["row"]
            click.echo(
                f"  source={row['source']} id={row['id']} type={row['type']} time={row['time']} "
                f"kafka={row['kafka_partition']}@{row['kafka_offset']}"
            )
            click.echo(f"  stored event: {row['canonical']}")
    if report["consistent"] is not None:
        verdict = "consistent" if report["consistent"] else "NOT CONSISTENT"
        click.echo(f"{verdict}: {report['consistency_detail']}", err=checkpoint)
        if report["proof"]:
            click.echo(f"  proof: {' '.join(report['proof'])}", err=checkpoint)
    if not report["ok"]:
        return
    if checkpoint:
        click.echo(report["checkpoint"], nl=False)
    else:
        click.echo(f"ok: {report['size']} events, RFC 6962 root {report['root']}")


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} events/s" if speed else "… events/s")


@click.command("rebuild")
@click.option("--force", is_flag=True, help="Swap even if the replay found fewer events.")
@click.pass_obj
def rebuild_command(settings: Settings, force: bool) -> None:
    """Rebuild the DuckDB projection by replaying the topic from the beginning.

    The replay goes to a new file, is compared with the current one table by table, and
    replaces it atomically; the old file stays beside it as *.before-rebuild. Stop
    `provledger serve` first: it holds the file.

    \b
    Example:
      provledger rebuild
    """
    console = Console(stderr=True)
    columns = (
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        _Rate(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("replay", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            result = rebuild(settings, on_progress, force=force)
        except fileshape.NotALedger as exc:
            raise LedgerUsageError(str(exc)) from exc
        except RebuildError as exc:
            raise click.ClickException(str(exc)) from exc
    for diff in result.tables:
        mark = "equal" if diff.equal else f"DIFFERS (-{diff.only_old} +{diff.only_new})"
        click.echo(f"{diff.table:<22} old {diff.old_rows:>9}  new {diff.new_rows:>9}  {mark}")
    root = "the same" if result.same_root else "different (arrival order differs across partitions)"
    click.echo(f"Merkle root: {root}")
    click.echo(f"rebuilt {result.events} events into {settings.db_path}")
    if result.backup:
        click.echo(f"the previous file is kept as {result.backup}")
