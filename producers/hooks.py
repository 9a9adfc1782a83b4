"""AI coding-tool hooks: what an agent wrote, and which destructive commands it ran.

Each tool sends one JSON object on stdin after a tool call (shapes from each tool's docs):

- claude-code ``PostToolUse``: session_id, cwd, tool_name (Write, Edit, MultiEdit, Bash),
  tool_input (file_path + content / new_string / edits[], or command);
- cursor ``afterFileEdit``: conversation_id, model, workspace_roots, file_path,
  edits[{old_string, new_string}]; ``beforeShellExecution``/``afterShellExecution``: command;
- gemini-cli ``AfterTool``: session_id, cwd, tool_name (write_file, replace,
  run_shell_command), tool_input (file_path + content / new_string, or command);
- copilot ``postToolUse``: cwd, toolName (create, edit, bash), toolArgs (object or JSON text:
  path + file_text / new_str, or command);
- kiro ``PostToolUse``: session_id, cwd, tool_name (fs_write, execute_bash), tool_input
  (path + file_text / new_str, or command).

Edits are journaled (:mod:`producers.journal`); destructive commands become ``agent.action``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provenance_ledger.producers import journal
from provenance_ledger.producers.ai_detect import RuleSet, default_rules, destructive_action

TOOLS = ("claude-code", "cursor", "gemini-cli", "copilot", "kiro")
TEXT_KEYS = ("content", "new_string", "file_text", "new_str", "new_source", "text")
PATH_KEYS = ("file_path", "path", "filePath", "notebook_path", "absolute_path")
SHELL_TOOLS = re.compile(r"^(bash|shell|run_shell_command|execute_?bash|terminal)$", re.I)
_ENVIRONMENT = re.compile(
    r"(?:--(?:env|environment|namespace|workspace)[= ]|\s-(?:n|e)\s+)([\w./-]+)", re.I
)


@dataclass(frozen=True)
class Edit:
    file: Path
    text: str


@dataclass(frozen=True)
class HookCall:
    tool: str
    session: str | None
    model: str | None
    cwd: Path
    edits: tuple[Edit, ...]
    commands: tuple[str, ...]


def _args(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _texts(args: dict[str, Any]) -> list[str]:
    texts = [args[key] for key in TEXT_KEYS if isinstance(args.get(key), str)]
    for edit in args.get("edits") or []:
        if isinstance(edit, dict):
            texts += [edit[key] for key in TEXT_KEYS if isinstance(edit.get(key), str)]
    return texts


def parse(
    tool: str,
    payload: dict[str, Any],
    model: str | None = None,
    default_model: str | None = None,
) -> HookCall:
    """The edits and shell commands in one hook payload, whatever tool sent it. The model is
    ``model`` (--model), else the payload's, else ``default_model`` (PROVLEDGER_AI_MODEL)."""
    roots = payload.get("workspace_roots") or []
    cwd = Path(payload.get("cwd") or (roots[0] if roots else "") or os.getcwd())
    name = str(payload.get("tool_name") or payload.get("toolName") or "")
    args = _args(payload.get("tool_input") or payload.get("toolArgs"))
    if payload.get("hook_event_name") == "afterFileEdit" or "edits" in payload:
        args = {**args, "file_path": payload.get("file_path"), "edits": payload.get("edits")}
    commands: list[str] = []
    command = args.get("command") if isinstance(args.get("command"), str) else None
    if SHELL_TOOLS.match(name) and command:
        commands.append(command)
    elif "Shell" in str(payload.get("hook_event_name")) and payload.get("command"):
        commands.append(str(payload["command"]))
    edits: list[Edit] = []
    target = next((args[key] for key in PATH_KEYS if isinstance(args.get(key), str)), None)
    if target and not commands:
        path = Path(target)
        path = path if path.is_absolute() else cwd / path
        edits += [Edit(path, text) for text in _texts(args)]
    session = payload.get("session_id") or payload.get("conversation_id")
    session = session or payload.get("sessionId")
    return HookCall(
        tool=tool,
        session=str(session) if session else None,
        model=model or payload.get("model") or default_model or None,
        cwd=cwd,
        edits=tuple(edits),
        commands=tuple(commands),
    )


def journal_edits(call: HookCall) -> int:
    """Journal each edit in the repo holding its file; how many lines were journaled."""
    total = 0
    for edit in call.edits:
        found = journal.find_repo(edit.file.parent if edit.file.parent.exists() else call.cwd)
        if found is None:
            continue
        root, git_dir = found
        try:
            relative = edit.file.resolve().relative_to(root.resolve())
        except ValueError:
            continue
        written = journal.hashes(edit.text)
        if not written:
            continue
        entry = {
            "tool": call.tool,
            "model": call.model,
            "mode": "agent",
            "session": call.session,
            "file": relative.as_posix(),
            "hashes": written,
        }
        journal.record(git_dir, {key: value for key, value in entry.items() if value})
        total += len(written)
    return total


def actions(
    call: HookCall,
    rules: RuleSet | None = None,
    environment: str | None = None,
    service: str | None = None,
) -> list[dict[str, Any]]:
    """``agent.action`` data for each destructive command in the call; the target's
    ``environment`` (when the command names none) and ``service`` are the given ones
    (PROVLEDGER_ENVIRONMENT, PROVLEDGER_SERVICE)."""
    ruleset = rules or default_rules()
    found = []
    for command in call.commands:
        action = destructive_action(command, ruleset)
        if action is None:
            continue
        target: dict[str, Any] = {"resource": " ".join(command.split()[:6])[:200]}
        match = _ENVIRONMENT.search(command)
        named = match.group(1) if match else environment
        if named:
            target["environment"] = named
        if service:
            target["service"] = service
        agent = {"tool": call.tool, "model": call.model, "session": call.session}
        found.append({
            "agent": {key: value for key, value in agent.items() if value},
            "action": action,
            "target": target,
            "destructive": True,
            "command": command[:2000],
        })  # fmt: skip
    return found
