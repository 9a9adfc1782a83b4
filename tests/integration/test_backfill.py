"""``provledger backfill git`` on repositories built here: every trailer style, merges,
re-runs that store nothing new, shallow and blobless clones."""

from __future__ import annotations

import json
import shutil

import pytest

from producers.backfill import Report, changes
from tests.integration.git_helpers import commit, git, init
from tests.integration.producer_helpers import (
    cli_env,
    closed_port,
    run,
    running_ledger,
    settle,
    wait_for,
)

HISTORY = [
    ("plain human commit", {"README.md": "shop\n"}, "Ann Dev <ann@acme.example>", []),
    ("Add retries\n\nCo-Authored-By: Claude Opus 4.1 <noreply@anthropic.com>",
     {"src/retry.py": "a\nb\nc\n"}, None, [("claude-code", "claude-opus-4.1")]),
    ("Tidy\n\n🤖 Generated with [Claude Code](https://claude.com/claude-code)\n\n"
     "Co-Authored-By: Claude <noreply@anthropic.com>", {"src/retry.py": "a\nb\n"}, None,
     [("claude-code", None)]),
    ("Pair work\n\nco-authored-by: copilot <175728472+Copilot@users.noreply.github.com>\n"
     "CO-AUTHORED-BY: Cursor Agent <cursoragent@cursor.com>\n"
     "Co-authored-by: Bob <bob@acme.example>", {"src/a.py": "x\n"}, None,
     [("copilot", None), ("cursor", None)]),
    ("Initial plan", {"src/b.py": "y\n"},
     "copilot-swe-agent[bot] <198982749+Copilot@users.noreply.github.com>", [("copilot", None)]),
    ("Fix the flaky test", {"src/c.py": "z\n"},
     "devin-ai-integration[bot] <158243242+devin-ai-integration[bot]@users.noreply.github.com>",
     [("devin", None)]),
    ("feat: faster cache", {"src/d.py": "d\n"}, "Paul Gauthier (aider) <paul@acme.example>",
     [("aider", None)]),
    ("aider: rename the helper", {"src/e.py": "e\n"}, None, [("aider", None)]),
    ("Refactor\n\nAssisted-by: Claude:claude-3-opus coccinelle sparse", {"src/f.py": "f\n"},
     None, [("claude-code", "claude-3-opus")]),
    ("Port\n\nassisted-by: GEMINI:gemini-2.5-pro", {"src/g.py": "g\n"}, None,
     [("gemini-cli", "gemini-2.5-pro")]),
    ("Tests\n\nCo-authored-by: Codex <codex@openai.com>", {"src/h.py": "h\n"}, None,
     [("codex", None)]),
]  # fmt: skip


@pytest.fixture
def repo(tmp_path):
    path = init(tmp_path / "shop")
    expected: dict[str, list] = {}
    for when, (message, files, author, tools) in enumerate(HISTORY):
        sha = commit(path, message, files, author or "Ann Dev <ann@acme.example>", when)
        expected[sha] = tools
    git(path, "checkout", "-q", "-b", "feature", "HEAD~2")
    side = commit(path, "Side work\n\nCo-authored-by: Claude Sonnet 4.5 <noreply@anthropic.com>",
                  {"src/side.py": "s\n"}, when=50)  # fmt: skip
    expected[side] = [("claude-code", "claude-sonnet-4.5")]
    git(path, "checkout", "-q", "main")
    git(path, "merge", "-q", "--no-ff", "-m", "Merge branch 'feature'", "feature",
        env={"GIT_AUTHOR_DATE": "2026-01-01T11:00:00+00:00",
             "GIT_COMMITTER_DATE": "2026-01-01T11:00:00+00:00"})  # fmt: skip
    expected[git(path, "rev-parse", "HEAD")] = []
    return path, expected


def tools_of(data: dict) -> list:
    return [(entry["tool"], entry.get("model")) for entry in data.get("ai", [])]


def test_exact_tools_and_models_per_commit(repo):
    path, expected = repo
    report = Report()
    found = {data["commit"]: data for _, data, _ in changes(path, "acme/shop", report=report)}
    assert {sha: tools_of(data) for sha, data in found.items()} == expected
    merge = found[git(path, "rev-parse", "HEAD")]
    assert "lines_added" not in merge and merge["files"] == []
    claude = found[
        next(
            sha
            for sha, tools in expected.items()
            if tools[:1] == [("claude-code", "claude-opus-4.1")]
        )
    ]
    assert (claude["files"], claude["lines_added"], claude["lines_deleted"]) == (
        ["src/retry.py"],
        3,
        0,
    )
    assert report.commits == len(expected) and report.ai_commits == 11
    assert report.tools["claude-code"] == 4


def test_backfill_into_the_ledger_and_rerun_stores_nothing_new(repo, settings, tmp_path):
    path, expected = repo
    env = cli_env(settings, tmp_path / "spool")
    dry = run(["backfill", "git", str(path), "--dry-run"], env)
    assert dry.returncode == 0, dry.stderr
    assert f"would emit change.authored for {len(expected)} commits" in dry.stderr
    with running_ledger(settings) as ledger:
        first = run(["backfill", "git", str(path)], env)
        assert first.returncode == 0 and "spooled" not in first.stderr, first.stderr
        wait_for(ledger, len(expected))
        assert settle(ledger) == (len(expected), 0)
        second = run(["backfill", "git", str(path)], env)
        assert second.returncode == 0, second.stderr
        assert settle(ledger, quiet_s=3) == (len(expected), 0)
        rows = (
            ledger.cursor()
            .execute(
                "SELECT source, data FROM events WHERE type = 'dev.provledger.change.authored.v1'"
            )
            .fetchall()
        )
    assert {source for source, _ in rows} == {"git/backfill/acme/shop"}
    stored = {json.loads(data)["commit"]: tools_of(json.loads(data)) for _, data in rows}
    assert stored == expected


def test_shallow_clone_reports_the_boundary(repo, tmp_path):
    path, expected = repo
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "3", "--no-single-branch", f"file://{path}", str(clone))
    report = Report()
    found = {data["commit"]: data for _, data, _ in changes(clone, "acme/shop", report=report)}
    assert report.skipped.shallow, "the boundary commits should be reported"
    for sha in report.skipped.shallow:
        assert "lines_added" not in found[sha] and "files" not in found[sha]
    assert all(tools_of(found[sha]) == expected[sha] for sha in found)
    assert "shallow-boundary" in report.summary()


def test_blobless_clone_with_its_remote_gone(repo, tmp_path):
    path, expected = repo
    git(path, "config", "uploadpack.allowFilter", "true")
    clone = tmp_path / "blobless"
    git(
        tmp_path, "clone", "-q", "--filter=blob:none", "--no-checkout", f"file://{path}", str(clone)
    )
    shutil.rmtree(path)  # offline: nothing can be fetched lazily any more
    report = Report()
    found = {data["commit"]: data for _, data, _ in changes(clone, "acme/shop", report=report)}
    assert {sha: tools_of(data) for sha, data in found.items()} == expected
    assert report.skipped.missing_blobs
    for sha in report.skipped.missing_blobs:
        assert "lines_added" not in found[sha] and found[sha]["files"]
    assert "partial clone" in report.summary()


def test_backfill_with_the_broker_away_spools_everything(repo, settings, tmp_path):
    from producers.spool import Spool

    path, expected = repo
    spool_dir = tmp_path / "spool"
    down = cli_env(settings, spool_dir, PROVLEDGER_KAFKA_BOOTSTRAP=closed_port())
    result = run(["backfill", "git", str(path), "--timeout", "1"], down)
    assert result.returncode == 0 and "spooled" in result.stderr, result.stderr
    assert Spool(spool_dir).pending() == len(expected)
    with running_ledger(settings) as ledger:
        assert run(["flush"], cli_env(settings, spool_dir)).returncode == 0
        wait_for(ledger, len(expected))
        assert settle(ledger) == (len(expected), 0)
