"""``provledger verify`` and ``provledger rebuild``: the ledger's own integrity commands.

DuckDB lets one process write a file or many read it, never both. With no server running
both commands open the file directly; while ``provledger serve`` holds it, ``verify`` asks
the server (admin scope) and ``rebuild`` refuses with what to do.

``verify`` exits 1 only for a verdict (tampered, or not consistent with a checkpoint); the
other failures exit with their own code of the table in README ("Exit codes").
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
import duckdb
from kafka.errors import KafkaConnectionError, KafkaTimeoutError
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

from provenance_ledger.ledger import fileshape, signednote
from provenance_ledger.ledger.checkpoint import CheckpointError, parse
from provenance_ledger.ledger.rebuild import RebuildResult, rebuild
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.verify import verify as verify_ledger
from provenance_ledger.query.cli.client import api_post
from provenance_ledger.query.cli.output import json_option, print_json
from provenance_ledger.schemas.errors import (
    Finding,
    LocalFailure,
    RemoteError,
    Unreachable,
    UsageProblem,
)

VERIFY_MEMORY_LIMIT = "256MB"


@click.command(
    epilog="Exit 0 verified, 1 tampered, not consistent, or the --since checkpoint's signature "
    "does not verify with --key, 2 the --since file is not a checkpoint or the key is "
    "malformed, 3 a server holds the file and its API does not answer, 4 the API refused "
    "(verifying through it needs the admin scope), 5 no ledger file or not a ledger."
)
@click.option(
    "--checkpoint",
    is_flag=True,
    help="Print the verified head as a C2SP checkpoint, a signed note when the server (or "
    "this command, with PROVLEDGER_SIGNING_KEY_FILE) has a signing key.",
)
@click.option(
    "--since",
    "since_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A checkpoint kept earlier: prove with an RFC 6962 consistency proof that the ledger "
    "only grew since.",
)
@click.option(
    "--key",
    "verifier_key",
    metavar="VERIFIER_KEY",
    help="The log's verifier key (from `provledger keys create`; default "
    "PROVLEDGER_VERIFIER_KEY): the --since checkpoint's signature is checked with it first.",
)
@json_option("Print the whole report (verdict, size, root, checkpoint, first bad row) as JSON.")
@click.pass_obj
def verify(
    settings: Settings,
    checkpoint: bool,
    since_file: Path | None,
    verifier_key: str | None,
    as_json: bool,
) -> None:
    """Recompute the ledger's log (an RFC 6962 tree per partition) from the stored records.

    Exit 0 and print the size and root if every row is as it was written; exit 1 and print
    the first row that was changed, inserted or deleted otherwise. Keep the output of
    --checkpoint somewhere the ledger's operators cannot write, and later check that the
    ledger only grew since with --since.

    \b
    Example:
      provledger verify --checkpoint > checkpoint-2026-11-26.txt
      provledger verify --since checkpoint-2026-11-26.txt --key "$VERIFIER_KEY"
    """
    key_text = verifier_key or settings.verifier_key
    key = signednote.parse_verifier_key(key_text) if key_text else None
    since_text = _kept_checkpoint(since_file, key) if since_file else None
    since = parse(since_text) if since_text is not None else None
    report = _local_report(settings, since)
    if report is None:
        report = _remote_report(settings, since_text)
    report["since_signed_by"] = key.id if key and since_file else None
    if as_json:
        print_json(report)
    else:
        _print_report(report, checkpoint)
    if not report["ok"]:
        raise Finding(_verdict(report))


def _kept_checkpoint(path: Path, key: signednote.VerifierKey | None) -> str:
    """The kept checkpoint's body, its signature checked first when there is a key."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(signednote.MAX_NOTE_BYTES + 1)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageProblem(f"{path}: not a checkpoint ({exc})") from exc
    if key is not None:
        text = signednote.open_kept(raw, key, path)
    elif "\n\n" in text:
        click.echo(
            f"{path}: its signature is not checked: pass --key or set PROVLEDGER_VERIFIER_KEY",
            err=True,
        )
    try:
        parse(text)
    except CheckpointError as exc:
        raise UsageProblem(f"{path}: not a checkpoint ({exc})") from exc
    return text


def _verdict(report: dict[str, Any]) -> str:
    problem = report["problem"]
    if problem:
        return f"the ledger was tampered with: {problem['where']} was {problem['kind']}"
    return f"the ledger is not consistent with the checkpoint: {report['consistency_detail']}"


def _local_report(settings: Settings, since) -> dict[str, Any] | None:
    path = Path(settings.db_path)
    # The same cap as serve and rebuild, or VERIFY_MEMORY_LIMIT: DuckDB otherwise keeps the
    # blocks it read, up to 80% of RAM, while verify reads the whole file (its joins spill).
    conn = fileshape.open_for_reading(path, settings.duckdb_memory_limit or VERIFY_MEMORY_LIMIT)
    if conn is None:
        return None  # a server holds the file: ask it
    try:
        report = verify_ledger(conn.cursor(), settings.topic, since).to_json()
        key_file = settings.api.signing_key_file
        signer = signednote.load_signer_key(key_file) if key_file else None
        report["signed_checkpoint"] = (
            signednote.sign(report["checkpoint"], signer) if signer and report["ok"] else None
        )
        return report
    except duckdb.Error as exc:  # e.g. out of memory under PROVLEDGER_DUCKDB_MEMORY_LIMIT
        reason = str(exc).strip().splitlines()[0]
        raise LocalFailure(f"verify could not finish reading {path}: {reason}") from exc
    finally:
        conn.close()


def _remote_report(settings: Settings, since_text: str | None) -> dict[str, Any]:
    try:
        return api_post(settings, "/v1/ledger/verify", {"since": since_text}, timeout_s=600)
    except Unreachable as exc:
        raise Unreachable(
            f"{settings.db_path} is held by another process, and the API at {settings.api_url} "
            f"does not answer ({exc.__cause__}). Stop that process or set PROVLEDGER_API to "
            "its server."
        ) from exc
    except RemoteError as exc:
        if exc.status not in (401, 403):
            raise
        raise RemoteError(
            f"the server refused to verify ({exc.message}); verifying through the API needs "
            "a token with the admin scope (PROVLEDGER_TOKEN)",
            exc.status,
            exc.body,
        ) from exc


def _print_report(report: dict[str, Any], checkpoint: bool) -> None:
    problem = report["problem"]
    if problem:
        click.echo(f"TAMPERED: {problem['where']} was {problem['kind']}: {problem['detail']}")
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
        for part in report["proof"]:
            click.echo(
                f"  partition {part['partition']}: {part['old_size']} -> {part['new_size']} "
                f"records, proof {' '.join(part['proof']) or '(none needed)'}",
                err=checkpoint,
            )
    if not report["ok"]:
        return
    if checkpoint:
        click.echo(report.get("signed_checkpoint") or report["checkpoint"], nl=False)
    else:
        click.echo(
            f"ok: {report['size']} records ({report['events']} events), root {report['root']}"
        )


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} events/s" if speed else "… events/s")


@click.command(
    "rebuild",
    epilog="Exit 3 when Kafka does not answer, 5 when the file is held, is not a ledger, or "
    "the replay found fewer events (without --force).",
)
@click.option("--force", is_flag=True, help="Swap even if the replay found fewer events.")
@json_option("Print the comparison (events, tables, log root, backup) as JSON.")
@click.pass_obj
def rebuild_command(settings: Settings, force: bool, as_json: bool) -> None:
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
        except (KafkaTimeoutError, KafkaConnectionError) as exc:
            raise Unreachable(
                f"Kafka at {settings.kafka_bootstrap} (PROVLEDGER_KAFKA_BOOTSTRAP) does not "
                f"answer ({exc}): nothing to replay from"
            ) from exc
    if as_json:
        print_json(_rebuilt(settings, result))
        return
    for diff in result.tables:
        mark = "equal" if diff.equal else f"DIFFERS (-{diff.only_old} +{diff.only_new})"
        click.echo(f"{diff.table:<22} old {diff.old_rows:>9}  new {diff.new_rows:>9}  {mark}")
    root = (
        "the same"
        if result.same_root
        else "different (the old file predates the log defined by the topic, or it and the "
        "topic no longer hold the same records)"
    )
    click.echo(f"log root: {root}")
    click.echo(
        f"replayed {result.events} events in {result.replay_s:.1f} s "
        f"({result.events_per_s:,.0f} events/s)"
    )
    click.echo(f"rebuilt {result.events} events into {settings.db_path}")
    if result.backup:
        click.echo(f"the previous file is kept as {result.backup}")


def _rebuilt(settings: Settings, result: RebuildResult) -> dict[str, Any]:
    return {
        "events": result.events,
        "replay_s": round(result.replay_s, 3),
        "events_per_s": round(result.events_per_s),
        "path": str(settings.db_path),
        "backup": str(result.backup) if result.backup else None,
        "same_root": result.same_root,
        "tables": [{**asdict(diff), "equal": diff.equal} for diff in result.tables],
    }
