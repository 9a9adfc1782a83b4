"""``provledger flush``, ``backfill git`` and ``hook TOOL``: the producer-side commands."""

from __future__ import annotations

import getpass
import json
import logging
import os
import select
import subprocess
import sys
import time
from pathlib import Path

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
from provenance_ledger.producers import hooks
from provenance_ledger.producers.backfill import (
    Report,
    backfill_source,
    change_event,
    changes,
    repo_name,
)
from provenance_ledger.producers.emitter import FORMATS, Emitter
from provenance_ledger.producers.envelope import build_event
from provenance_ledger.producers.gitlog import GitError, git
from provenance_ledger.producers.spool import Spool, default_spool_dir, private_dir
from provenance_ledger.query.cli_emit import DEFAULT_FORMAT, send_or_spool
from provenance_ledger.schemas.events import ChangeAuthored


@click.command()
@click.option("--timeout", "timeout_s", default=5.0, show_default=True, help="Seconds to wait.")
@click.option("--quiet", is_flag=True, help="Print nothing when there is nothing to say.")
@click.option("--no-wait", is_flag=True, help="Exit at once if another flush is running.")
@click.pass_obj
def flush(settings: Settings, timeout_s: float, quiet: bool, no_wait: bool) -> None:
    """Deliver the events spooled while Kafka was unreachable, in order, each once.

    \b
    Example:
      provledger flush
      PROVLEDGER_SPOOL_DIR=/var/spool/provledger provledger flush
    """
    spool = Spool()
    emitter = Emitter(settings.kafka_bootstrap, settings.topic, timeout_s=timeout_s)
    try:
        result = spool.drain(emitter.deliver_spooled, wait_s=0 if no_wait else None)
    finally:
        emitter.abort() if spool.pending() else emitter.close()
    if result.busy:
        return
    if result.remaining:
        raise click.ClickException(
            f"delivered {result.delivered}; {result.remaining} still spooled in "
            f"{spool.directory}: Kafka at {settings.kafka_bootstrap} did not take them"
        )
    if result.delivered or not quiet:
        click.echo(f"delivered {result.delivered} spooled events; the spool is empty")


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


@backfill.command("git")
@click.argument("path", default=".", type=click.Path(exists=True, file_okay=False))
@click.option("--since", help="Only commits after this date (anything git log --since takes).")
@click.option("--repo", help="The repo name, org/name (default: from the origin remote).")
@click.option("--dry-run", is_flag=True, help="Read and report; send nothing.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=DEFAULT_FORMAT)
@click.option("--timeout", "timeout_s", default=10.0, show_default=True, help="Seconds to wait.")
@click.pass_obj
def backfill_git(
    settings: Settings,
    path: str,
    since: str | None,
    repo: str | None,
    dry_run: bool,
    fmt: str,
    timeout_s: float,
) -> None:
    """One change.authored per commit of PATH (default: the current repository), with
    author, files, lines, message and the AI assistance its trailers and authors show.
    Event ids come from repo + commit, so running it again stores nothing new.

    \b
    Example:
      provledger backfill git ~/src/shop --since 2025-01-01 --dry-run
      provledger backfill git .
    """
    try:
        name = repo or repo_name(path)
    except GitError as exc:
        raise click.ClickException(str(exc)) from exc
    report = Report()
    source = backfill_source(name)
    batch: list = []
    away = False
    with _progress() as progress:
        total = None if progress.disable else _count(path, since)
        task = progress.add_task(f"backfill {name}", total=total, rate=0.0)
        try:
            for event_id, data, at in changes(path, name, since=since, report=report):
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
        except GitError as exc:
            raise click.ClickException(str(exc)) from exc
        progress.update(task, completed=report.commits, rate=report.rate)
    if batch:
        send_or_spool(settings, batch, fmt, timeout_s, False, quiet=True, spool_only=away)
    verb = "would emit" if dry_run else "emitted"
    click.echo(f"{verb} change.authored for {report.summary()}", err=True)


def _log_path() -> Path:
    return Path(os.environ.get("PROVLEDGER_HOOK_LOG") or default_spool_dir().parent / "hooks.log")


STDIN_WAIT_S = 2.0
MAX_PAYLOAD = 16 << 20


def _read_stdin(wait_s: float = STDIN_WAIT_S, limit: int = MAX_PAYLOAD) -> str:
    """The payload, read within ``wait_s`` and ``limit`` bytes: a tool may keep stdin open
    after writing (or, like Kiro before 1.0, never write and pass USER_PROMPT instead).
    Reading ends at end of input, once what came parses as one JSON value, or at the bound;
    the tool waits for the hook, so the hook never waits for the tool."""
    fd = sys.stdin.fileno()
    deadline = time.monotonic() + wait_s
    data = bytearray()
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        chunk = os.read(fd, 1 << 16) if ready else b""
        if not chunk:
            break
        data += chunk
        if len(data) > limit:
            raise ValueError(f"hook payload over {limit:,} bytes")
        if data.rstrip().endswith(b"}") and _whole_json(data):
            break
    text = data.decode("utf-8", "replace")
    return text or os.environ.get("USER_PROMPT", "")


def _whole_json(data: bytearray) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


@click.command()
@click.argument("tool", type=click.Choice(hooks.TOOLS))
@click.option("--model", help="The model, when the tool's payload does not say.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=DEFAULT_FORMAT)
def hook(tool: str, model: str | None, fmt: str) -> None:
    """Read an AI coding tool's hook payload on stdin: journal the lines it wrote (for the
    commit's `ai` field) and report destructive shell commands as agent.action. Never fails
    or blocks the tool: always exits 0; errors go to PROVLEDGER_HOOK_LOG.

    \b
    Example:
      echo '{"tool_name": "Write", ...}' | provledger hook claude-code --model claude-opus-4.1
      # Claude Code, .claude/settings.json:
      {"hooks": {"PostToolUse": [{"matcher": "Write|Edit|MultiEdit|Bash",
        "hooks": [{"type": "command", "command": "provledger hook claude-code"}]}]}}
      # one line for each tool: producers/README.md
    """
    try:
        _run_hook(tool, model, fmt)
    except Exception:
        path = _log_path()
        private_dir(path.parent)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        logging.basicConfig(filename=path, force=True)
        logging.getLogger("provledger.hook").exception("hook %s failed", tool)
    if tool in ("cursor", "gemini-cli"):
        click.echo("{}")


def _run_hook(tool: str, model: str | None, fmt: str) -> None:
    raw = _read_stdin()
    payload = json.loads(raw) if raw.strip() else {}
    if not isinstance(payload, dict):
        raise ValueError(f"the payload is a JSON {type(payload).__name__}, not an object")
    call = hooks.parse(tool, payload, model)
    hooks.journal_edits(call)
    found = hooks.actions(call)
    if not found:
        return
    source = f"ide/{tool}/{getpass.getuser()}"
    events = [build_event("agent.action", data, source) for data in found]
    from provenance_ledger.producers.emitter import to_spooled

    # Spool (fast, durable), then deliver in the background so the tool never waits.
    Spool().append([to_spooled(event, fmt) for event in events])
    if os.environ.get("PROVLEDGER_HOOK_DELIVERY", "background") == "background":
        subprocess.Popen(
            [sys.executable, "-m", "provenance_ledger.query", "flush", "--quiet", "--no-wait"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
