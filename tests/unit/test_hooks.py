"""Hook payloads of each tool (recorded shapes from their docs) → edits and commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provenance_ledger.producers.emit_git import merge_ai
from provenance_ledger.producers.hooks import actions, parse

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hooks"
REPO = Path("/work/repo")


def payload(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text().replace("{repo}", str(REPO)))


@pytest.mark.parametrize(
    ("tool", "fixture", "file", "lines", "session", "model"),
    [
        ("claude-code", "claude-code-write.json", "src/retry.py", 7,
         "7d1f4c2a-5b1e-4a9e-9c3f-2f6c8d9e0a11", None),
        ("cursor", "cursor-after-file-edit.json", "src/client.py", 4,
         "c0ffee00-1234-4cde-8f00-aa11bb22cc33", "gpt-5"),
        ("gemini-cli", "gemini-cli-after-tool.json", "src/cache.py", 3, "gem-3a2b1c", None),
        ("copilot", "copilot-post-tool-use.json", "src/metrics.py", 4, None, None),
        ("kiro", "kiro-post-tool-use.json", "src/flags.py", 1, "kiro-sess-42", None),
    ],
)  # fmt: skip
def test_edits_from_each_tool(tool, fixture, file, lines, session, model):
    call = parse(tool, payload(fixture))
    assert {edit.file for edit in call.edits} == {REPO / file}
    written = sum(len([x for x in e.text.splitlines() if x.strip()]) for e in call.edits)
    assert written == lines
    assert (call.session, call.model, call.commands) == (session, model, ())


def test_model_from_the_flag_when_the_payload_has_none():
    assert parse("claude-code", payload("claude-code-write.json"), "claude-opus-4.1").model == (
        "claude-opus-4.1"
    )


def test_destructive_shell_commands_become_agent_actions():
    claude = actions(parse("claude-code", payload("claude-code-bash.json"), "claude-opus-4.1"))
    assert claude == [{
        "agent": {"tool": "claude-code", "model": "claude-opus-4.1",
                  "session": "7d1f4c2a-5b1e-4a9e-9c3f-2f6c8d9e0a11"},
        "action": "destroy_infrastructure",
        "target": {"resource": "terraform destroy -auto-approve -var env=staging"},
        "destructive": True,
        "command": "terraform destroy -auto-approve -var env=staging",
    }]  # fmt: skip
    cursor = actions(parse("cursor", payload("cursor-before-shell.json")))
    assert cursor[0]["action"] == "delete_resource"
    assert cursor[0]["target"]["environment"] == "prod"
    assert actions(parse("claude-code", payload("claude-code-write.json"))) == []


def test_journal_lines_and_trailer_models_merge():
    merged = merge_ai(
        [{"tool": "claude-code", "model": "claude-opus-4.1", "mode": "agent"}, {"tool": "copilot"}],
        [{"tool": "claude-code", "mode": "agent", "session": "s1", "lines": 12}],
    )
    assert merged == [
        {"tool": "claude-code", "mode": "agent", "session": "s1", "lines": 12,
         "model": "claude-opus-4.1"},
        {"tool": "copilot"},
    ]  # fmt: skip
