"""AI attribution read from a real repository, end to end: a git-ai note under refs/notes/ai,
Agent Trace records in the work tree, trailer commits and a Copilot coding-agent commit,
backfilled through the real broker into a real ledger; hostile notes are reported, not fatal."""

from __future__ import annotations

import json
from pathlib import Path

from provenance_ledger.producers.ai_detect import default_rules
from provenance_ledger.producers.emit_git import change_from_git
from provenance_ledger.producers.gitai import MAX_NOTE_BYTES
from tests.support.git_repo import commit, git, init
from tests.support.producers import cli_env, run, running_ledger, settle, wait_for

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "attribution"
RECORDED_REVISION = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0"
AGENT = "Copilot <198982749+Copilot@users.noreply.github.com>"


def numbered(count: int) -> str:
    return "".join(f"line {n}\n" for n in range(1, count + 1))


def message_of(sample: str) -> str:
    return (SAMPLES / sample).read_text().partition("\n\n")[2]


def add_note(repo: Path, sha: str, text: str, tmp_path: Path) -> None:
    note = tmp_path / f"note-{sha}"
    note.write_text(text)
    git(repo, "notes", "--ref=ai", "add", "-F", str(note), sha)


def write_traces(repo: Path, revision: str, extra_lines: list[str]) -> None:
    recorded = (SAMPLES / "traces.jsonl").read_text()
    lines = recorded.replace(RECORDED_REVISION, revision).splitlines()
    (repo / ".agent-trace").mkdir(exist_ok=True)
    (repo / ".agent-trace" / "traces.jsonl").write_text("\n".join(lines + extra_lines) + "\n")


def history(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    repo = init(tmp_path / "shop")
    shas = {"noted": commit(repo, "Port the parser", {"src/main.rs": numbered(50),
                                                      "src/lib.rs": numbered(50)})}  # fmt: skip
    helpers = {"src/utils/parser.ts": numbered(80), "src/utils/helpers.ts": numbered(30),
               "src/app.ts": numbered(50)}  # fmt: skip
    shas["traced"] = commit(repo, "Parser helpers", helpers, when=1)
    for when, (name, sample) in enumerate(
        [("kernel", "kernel-assisted-by.txt"), ("fedora", "fedora-assisted-by.txt"),
         ("openinfra", "openinfra-generated-by.txt")], start=2,
    ):  # fmt: skip
        shas[name] = commit(repo, message_of(sample), {f"{name}.py": "x\n"}, when=when)
    shas["copilot"] = commit(repo, message_of("copilot-agent.txt"), {"pay.py": "retry\n"}, AGENT, 5)
    shas["huge"] = commit(repo, "Big\n\nCo-authored-by: Claude <noreply@anthropic.com>",
                          {"big.py": "b\n"}, when=6)  # fmt: skip
    shas["broken"] = commit(repo, "Broken note", {"c.py": "c\n"}, when=7)
    recorded = (SAMPLES / "gitai-note-sessions.txt").read_text()
    add_note(repo, shas["noted"], recorded, tmp_path)
    padded = recorded.replace(
        '"prompts": {}', f'"padding": "{"x" * MAX_NOTE_BYTES}", "prompts": {{}}'
    )
    add_note(repo, shas["huge"], padded, tmp_path)  # a valid note, but too large
    add_note(repo, shas["broken"], "src/c.py\n  abcd1234abcd1234 1\n", tmp_path)
    write_traces(repo, shas["noted"], ["{not json"])
    return repo, shas


AI_ROWS = """SELECT commit, tool, model, mode, lines, session FROM change_ai
             ORDER BY commit, tool, model NULLS FIRST, lines"""


def test_recorded_attribution_reaches_the_ledger(settings, tmp_path):
    repo, shas = history(tmp_path)
    env = cli_env(settings, tmp_path / "spool")
    with running_ledger(settings) as ledger:
        result = run(["backfill", "git", str(repo), "--json"], env)
        assert result.returncode == 0, result.stderr
        wait_for(ledger, len(shas))
        assert settle(ledger) == (len(shas), 0)
        rows = ledger.cursor().execute(AI_ROWS).fetchall()
        authors = dict(ledger.cursor().execute("SELECT commit, author_id FROM changes").fetchall())
    name = {sha: label for label, sha in shas.items()}
    stored = [(name[sha], *rest) for sha, *rest in rows]
    cursor_chat = "https://api.cursor.com/v1/conversations/12345"
    claude_session = "file:///home/dev/.claude/projects/shop/5f1c.jsonl"
    assert sorted(stored) == sorted([
        ("noted", "claude-code", "claude-sonnet-4-5-20250514", None, 50, "conv_abc123def456"),
        ("noted", "cursor", "claude-sonnet-4-5-20250514", None, 23,
         "6ef2299e-a67f-432b-aa80-3d2fb4d28999"),
        ("traced", "claude-code", "claude-sonnet-4-20250514", None, 10, claude_session),
        ("traced", "cursor", "claude-opus-4-5-20251101", None, 26, cursor_chat),
        ("traced", "cursor", "gpt-4o", None, 16, cursor_chat),
        ("traced", "unknown", None, None, 50, None),
        ("kernel", "claude-code", "claude-3-opus", None, None, None),
        ("fedora", "chatgptv5", None, None, None, None),
        ("fedora", "generic-llm-chatbot", None, None, None, None),
        ("openinfra", "gemini-cli", "gemini-2.5-pro", None, None, None),
        ("copilot", "copilot-agent", None, "agent", None, None),
        ("huge", "claude-code", None, "agent", None, None),
    ])  # fmt: skip
    assert authors[shas["copilot"]] == "583231+octocat@users.noreply.github.com"
    report = json.loads(result.stdout)
    assert report["attribution"] == {
        "git_ai_notes": {"read": 1, "not_used": 2, "truncated": 0},
        "agent_trace": {"records": 3, "skipped_lines": 1, "truncated": False},
    }
    assert report["tools"]["claude-code"] == 4


def test_the_report_says_which_notes_were_not_used(tmp_path, settings):
    repo, shas = history(tmp_path)
    dry = run(["backfill", "git", str(repo), "--dry-run"], cli_env(settings, tmp_path / "sp"))
    assert dry.returncode == 0, dry.stderr
    assert "read 1 git-ai notes (refs/notes/ai) and 3 Agent Trace records" in dry.stderr
    assert f"2 git-ai notes not used, e.g. {shas['broken']}: no --- line" in dry.stderr
    assert "1 lines of .agent-trace/traces.jsonl skipped (line 4: " in dry.stderr


def test_the_commit_time_emit_reads_the_note_and_traces_of_head(tmp_path):
    repo = init(tmp_path / "shop")
    base = commit(repo, "Base", {"README.md": "shop\n"})
    head = commit(repo, "Parser\n\nCo-authored-by: Cursor Agent <cursoragent@cursor.com>",
                  {"src/main.rs": numbered(40), "src/lib.rs": numbered(5),
                   "src/utils/parser.ts": numbered(70)}, when=1)  # fmt: skip
    add_note(repo, head, (SAMPLES / "gitai-note-sessions.txt").read_text(), tmp_path)
    write_traces(repo, base, [])
    data = change_from_git(repo, "acme/shop", default_rules())
    assert data["commit"] == head and data["lines_added"] == 115
    assert [(e["tool"], e.get("model"), e.get("lines"), e.get("mode")) for e in data["ai"]] == [
        ("cursor", "claude-sonnet-4-5-20250514", 23, "agent"),  # the trailer adds the mode
        ("claude-code", "claude-sonnet-4-5-20250514", 50, None),
        ("cursor", "claude-opus-4-5-20251101", 26, "agent"),
        ("claude-code", "claude-sonnet-4-20250514", 10, None),
    ]
