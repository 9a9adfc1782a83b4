"""AI-tool hooks end to end: recorded payloads of each tool, a real ``git commit``, then the
``change.authored`` the commit emits carries the tool, model and lines still committed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.git_repo import commit, git, init
from tests.support.producers import (
    cli_env,
    run,
    running_ledger,
    settle,
    wait_for,
)
from tests.support.servers import provledger_command

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hooks"


def feed(tool: str, fixture: str, repo: Path, env: dict, *extra: str) -> None:
    payload = (FIXTURES / fixture).read_text().replace("{repo}", str(repo))
    result = run(["hook", tool, *extra], env, stdin=payload, cwd=repo)
    assert result.returncode == 0, result.stderr


def write(repo: Path, name: str, text: str) -> None:
    (repo / name).parent.mkdir(parents=True, exist_ok=True)
    (repo / name).write_text(text)


@pytest.fixture
def repo(tmp_path):
    path = init(tmp_path / "shop")
    commit(path, "start", {"src/client.py": "TIMEOUT = 1\n"})
    return path


def test_each_tool_s_lines_reach_the_commit(repo, settings, tmp_path):
    env = cli_env(settings, tmp_path / "spool", PROVLEDGER_HOOK_LOG=str(tmp_path / "hooks.log"))
    fixture = json.loads((FIXTURES / "claude-code-write.json").read_text())
    content = fixture["tool_input"]["content"]
    steps = [
        # (tool, fixture, extra args, files as committed, trailer, expected ai, lines added)
        ("claude-code", "claude-code-write.json", (),
         {"src/retry.py": content.replace("gave up", "retries exhausted") + "\n# ok\nLOG = 1\n"},
         "\n\nCo-Authored-By: Claude Opus 4.1 <noreply@anthropic.com>",
         {"tool": "claude-code", "model": "claude-opus-4.1", "mode": "agent",
          "session": fixture["session_id"], "lines": 6}, 10),
        ("cursor", "cursor-after-file-edit.json", (),
         {"src/client.py": "TIMEOUT = 5\nRETRIES = 3\n\ndef backoff(n):\n    return 2 ** n\n"}, "",
         {"tool": "cursor", "model": "gpt-5", "mode": "agent",
          "session": "c0ffee00-1234-4cde-8f00-aa11bb22cc33", "lines": 4}, 5),
        ("gemini-cli", "gemini-cli-after-tool.json", ("--model", "gemini-2.5-pro"),
         {"src/cache.py": "CACHE = {}\n\ndef get(key):\n    return CACHE.get(key)\n"}, "",
         {"tool": "gemini-cli", "model": "gemini-2.5-pro", "mode": "agent",
          "session": "gem-3a2b1c", "lines": 3}, 4),
        ("copilot", "copilot-post-tool-use.json", (),
         {"src/metrics.py": "COUNTER = 0\n\ndef bump():\n    global COUNTER\n    COUNTER += 1\n"},
         "", {"tool": "copilot", "mode": "agent", "lines": 4}, 5),
        ("kiro", "kiro-post-tool-use.json", (),
         {"src/flags.py": 'FLAGS = {"new_checkout": False}\n', "src/human.py": "x = 1\n"}, "",
         {"tool": "kiro", "mode": "agent", "session": "kiro-sess-42", "lines": 1}, 2),
    ]  # fmt: skip
    shas = {}
    with running_ledger(settings) as ledger:
        for when, (tool, name, extra, files, trailer, _, _) in enumerate(steps, start=1):
            feed(tool, name, repo, env, *extra)
            sha = commit(repo, f"{tool} change{trailer}", files, when=when)
            emitted = run(["emit", "change.authored", "--repo-path", str(repo)], env)
            assert emitted.returncode == 0, emitted.stderr
            shas[tool] = sha
        wait_for(ledger, len(steps))
        assert settle(ledger) == (len(steps), 0)
        rows = (
            ledger.cursor()
            .execute("SELECT data FROM events WHERE type = 'dev.provledger.change.authored.v1'")
            .fetchall()
        )
    by_commit = {json.loads(row[0])["commit"]: json.loads(row[0]) for row in rows}
    for tool, _, _, _, _, expected, added in steps:
        data = by_commit[shas[tool]]
        assert data["ai"] == [expected], tool
        assert data["lines_added"] == added, tool
        assert data["repo"] == "acme/shop"
    journal = repo / ".git" / "provledger" / "journal.jsonl"
    assert journal.read_text() == "", "folded entries are consumed"


def test_destructive_command_becomes_an_agent_action(repo, settings, tmp_path):
    env = cli_env(settings, tmp_path / "spool", PROVLEDGER_HOOK_DELIVERY="spool",
                  PROVLEDGER_HOOK_LOG=str(tmp_path / "hooks.log"))  # fmt: skip
    feed("claude-code", "claude-code-bash.json", repo, env, "--model", "claude-opus-4.1")
    feed("cursor", "cursor-before-shell.json", repo, env)
    with running_ledger(settings) as ledger:
        assert run(["flush"], env).returncode == 0
        wait_for(ledger, 2)
        rows = ledger.cursor().execute("SELECT source, data FROM events ORDER BY seq").fetchall()
    actions = [(source, json.loads(data)) for source, data in rows]
    assert [data["action"] for _, data in actions] == ["destroy_infrastructure", "delete_resource"]
    assert actions[0][1]["agent"]["model"] == "claude-opus-4.1"
    assert actions[1][1]["target"]["environment"] == "prod"
    assert all(data["destructive"] for _, data in actions)
    assert actions[0][0].startswith("ide/claude-code/")


def test_a_hook_never_fails_or_waits_on_the_tool(repo, settings, tmp_path):
    log = tmp_path / "hooks.log"
    env = cli_env(settings, tmp_path / "spool", PROVLEDGER_HOOK_LOG=str(log))
    broken = run(["hook", "claude-code"], env, stdin="{not json", cwd=repo)
    assert broken.returncode == 0 and broken.stdout == ""
    assert "hook claude-code failed" in log.read_text()
    # Kiro before 1.0 opens stdin and never writes or closes it.
    process = subprocess.Popen(
        [*provledger_command(), "hook", "kiro"], env={**env, "USER_PROMPT": ""}, cwd=repo,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.wait(timeout=30) == 0
    finally:
        process.stdin.close()
    cursor = run(["hook", "cursor"], env, stdin="{}", cwd=repo)
    assert (cursor.returncode, cursor.stdout.strip()) == (0, "{}")
    assert git(repo, "status", "--porcelain") == ""


def test_a_hook_returns_while_the_tool_keeps_stdin_open(repo, settings, tmp_path):
    """The payload is read once it is whole; stdin left open by the tool does not hold the
    hook (it waited for end of input: 8 s with a slow writer, forever with none)."""
    env = cli_env(settings, tmp_path / "spool", PROVLEDGER_HOOK_LOG=str(tmp_path / "hooks.log"))
    payload = (FIXTURES / "claude-code-write.json").read_text().replace("{repo}", str(repo))
    process = subprocess.Popen(
        [*provledger_command(), "hook", "claude-code"], env=env, cwd=repo,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        process.stdin.write(payload.encode())
        process.stdin.flush()
        assert process.wait(timeout=15) == 0  # Python start-up on a busy box included
    finally:
        process.stdin.close()
        process.kill()
    journal = repo / ".git" / "provledger" / "journal.jsonl"
    assert json.loads(journal.read_text())["tool"] == "claude-code"
    # Half a payload and then silence: the hook gives up at its bound and logs why.
    process = subprocess.Popen(
        [*provledger_command(), "hook", "claude-code"], env=env, cwd=repo,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        process.stdin.write(payload[: len(payload) // 2].encode())
        process.stdin.flush()
        assert process.wait(timeout=15) == 0
    finally:
        process.stdin.close()
        process.kill()
    assert "hook claude-code failed" in (tmp_path / "hooks.log").read_text()


def test_the_fold_keeps_edits_journaled_while_it_runs(repo):
    """Hooks journaling other files while commits are folded: no recorded line is lost."""
    import threading

    from provenance_ledger.producers import journal

    git_dir = repo / ".git"
    sha = commit(repo, "edit", {"src/client.py": "TIMEOUT = 2\n"}, when=1)
    writers, per_writer = 4, 50

    def write(n: int) -> None:
        for i in range(per_writer):
            journal.record(git_dir, {"tool": "t", "file": f"other/{n}-{i}.py", "hashes": ["h"]})

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        journal.record(git_dir, {"tool": "t", "file": "src/client.py", "hashes": ["h"]})
        journal.fold(repo, git_dir, sha)
    for thread in threads:
        thread.join()
    kept = {entry["file"] for entry in journal.entries(git_dir)}
    assert {f"other/{n}-{i}.py" for n in range(writers) for i in range(per_writer)} <= kept


def test_a_committed_line_that_looks_like_a_file_header_is_a_line(repo):
    from provenance_ledger.producers import journal

    sha = commit(repo, "tricky", {"src/a.py": "x = 1\n++ b/src/evil.py\ny = 2\n"}, when=1)
    assert journal.added_lines(repo, sha) == {"src/a.py": ["x = 1", "++ b/src/evil.py", "y = 2"]}
