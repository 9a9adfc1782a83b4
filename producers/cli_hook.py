"""``provledger hook TOOL``: run by AI coding tools after every edit, so it imports only
click, the standard library and the hook, journal and spool code. Kafka, pydantic and the
emitter load only when a destructive command is to be reported (see bench/bench_hook.py)."""

from __future__ import annotations

import getpass
import json
import logging
import os
import select
import subprocess
import sys
import time

import click

from provenance_ledger.ledger.settings import ProducerSettings
from provenance_ledger.producers import hooks
from provenance_ledger.producers.ai_detect import load_rules
from provenance_ledger.producers.formats import DEFAULT_FORMAT, FORMATS
from provenance_ledger.producers.spool import Spool, private_dir

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
    # The hook's edge: it builds only its own settings, inside the guard, so that a bad value
    # is logged like any other failure (the root group leaves the hook's settings to it).
    settings: ProducerSettings | None = None
    try:
        settings = ProducerSettings.from_env()
        _run_hook(settings, tool, model, fmt)
    except Exception:
        path = (settings or ProducerSettings()).hook_log
        private_dir(path.parent)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        logging.basicConfig(filename=path, force=True)
        logging.getLogger("provledger.hook").exception("hook %s failed", tool)
    if tool in ("cursor", "gemini-cli"):
        click.echo("{}")


def _run_hook(settings: ProducerSettings, tool: str, model: str | None, fmt: str) -> None:
    raw = _read_stdin()
    payload = json.loads(raw) if raw.strip() else {}
    if not isinstance(payload, dict):
        raise ValueError(f"the payload is a JSON {type(payload).__name__}, not an object")
    call = hooks.parse(tool, payload, model, settings.ai_model)
    hooks.journal_edits(call)
    rules = load_rules(settings.ai_rules)
    found = hooks.actions(call, rules, settings.environment, settings.service)
    if not found:
        return
    # Building and encoding events needs pydantic and the emitter: paid only when reporting.
    from provenance_ledger.producers.emitter import to_spooled
    from provenance_ledger.producers.envelope import build_event

    source = f"ide/{tool}/{getpass.getuser()}"
    events = [build_event("agent.action", data, source) for data in found]

    # Spool (fast, durable), then deliver in the background so the tool never waits.
    Spool(settings.spool_dir).append([to_spooled(event, fmt) for event in events])
    if settings.hook_delivery == "background":
        subprocess.Popen(
            [sys.executable, "-m", "provenance_ledger.query", "flush", "--quiet", "--no-wait"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
