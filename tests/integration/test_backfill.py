"""``provledger backfill git`` on repositories built here: every trailer style, merges,
re-runs that store nothing new, shallow and blobless clones."""

from __future__ import annotations

import json
import shutil

import pytest

from provenance_ledger.producers.backfill import Report, changes
from tests.support.git_repo import commit, git, init
from tests.support.producers import (
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
     "copilot-swe-agent[bot] <198982749+Copilot@users.noreply.github.com>",
     [("copilot-agent", None)]),
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
    from provenance_ledger.producers.spool import Spool

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


def forged_record(older: str) -> str:
    """A message that imitates the old ``git log`` record layout for the ``older`` commit."""
    fields = [older, "", "Bob Senior", "bob@acme.example", "2026-01-01T09:00:00+00:00",
              "Bob Senior", "bob@acme.example", "Reviewed and written by Bob"]  # fmt: skip
    return "Innocent change\n\x1e" + "\x1f".join(fields) + "\x1f"


def test_a_message_cannot_forge_another_commits_provenance(tmp_path):
    path = init(tmp_path / "shop")
    older = commit(path, "Older work", {"a.py": "a\n"})
    forger = commit(path, forged_record(older), {"b.py": "b\n"}, "Mal Lory <mal@acme.example>", 1)
    bare = commit(path, "\x1e", {"c.py": "c\n"}, when=2)
    report = Report()
    found = [data for _, data, _ in changes(path, "acme/shop", report=report)]
    assert [data["commit"] for data in found] == [bare, forger, older]
    by_sha = {data["commit"]: data for data in found}
    assert by_sha[older]["author"] == {"id": "ann@acme.example", "name": "Ann Dev"}
    assert by_sha[older]["message"] == "Older work"
    assert by_sha[forger]["author"]["id"] == "mal@acme.example"
    assert by_sha[forger]["message"] == forged_record(older).rstrip("\n")
    assert by_sha[bare]["files"] == ["c.py"] and by_sha[bare]["message"] == "\x1e"
    assert not report.skipped.unreadable


def test_the_commit_time_emit_reads_head_whole(tmp_path):
    from provenance_ledger.producers.ai_detect import default_rules
    from provenance_ledger.producers.emit_git import change_from_git

    path = init(tmp_path / "shop")
    older = commit(path, "Older work", {"a.py": "a\n"})
    head = commit(path, forged_record(older), {"b.py": "b\n"}, "Mal Lory <mal@acme.example>", 1)
    data = change_from_git(path, "acme/shop", default_rules())
    assert (data["commit"], data["author"]["id"]) == (head, "mal@acme.example")
    assert data["message"] == forged_record(older).rstrip("\n")
    assert (data["files"], data["lines_added"]) == (["b.py"], 1)


def test_a_malformed_commit_object_is_reported_not_fatal(tmp_path):
    path = init(tmp_path / "shop")
    first = commit(path, "First", {"a.py": "a\n"})
    tree = git(path, "rev-parse", "HEAD^{tree}")
    body = (f"tree {tree}\nparent {first}\nauthor Mal <mal@x> 99999999999999999 +0000\n"
            f"committer Mal <mal@x> 1767261600 +0000\n\nbad date\n")  # fmt: skip
    (tmp_path / "bad").write_text(body)
    bad = git(path, "hash-object", "-t", "commit", "--literally", "-w", str(tmp_path / "bad"))
    git(path, "update-ref", "refs/heads/main", bad)
    last = commit(path, "Last", {"b.py": "b\n"}, when=5)
    report = Report()
    found = [data["commit"] for _, data, _ in changes(path, "acme/shop", report=report)]
    assert found == [last, first]
    assert [sha for sha, _ in report.skipped.unreadable] == [bad]
    assert "timestamp" in report.skipped.unreadable[0][1]
    assert "1 commits could not be read" in report.summary()


@pytest.mark.parametrize("promisor", ["reachable", "gone"])
def test_treeless_clone_emits_every_commit(repo, tmp_path, promisor):
    path, expected = repo
    git(path, "config", "uploadpack.allowFilter", "true")
    clone = tmp_path / "treeless"
    git(tmp_path, "clone", "-q", "--filter=tree:0", f"file://{path}", str(clone))
    if promisor == "gone":
        shutil.move(path, tmp_path / "elsewhere")  # lazy fetches can only fail now
    report = Report()
    found = {data["commit"]: data for _, data, _ in changes(clone, "acme/shop", report=report)}
    assert {sha: tools_of(data) for sha, data in found.items()} == expected
    assert len(report.skipped.missing_trees) == len(expected) - 1  # all but the merge
    for sha in report.skipped.missing_trees:
        assert "files" not in found[sha] and "lines_added" not in found[sha]
    assert not report.skipped.unreadable
    assert f"{len(expected) - 1} commits need trees or blobs" in report.summary()


def test_backfill_command_on_a_treeless_clone_whose_remote_is_gone(repo, settings, tmp_path):
    path, expected = repo
    git(path, "config", "uploadpack.allowFilter", "true")
    clone = tmp_path / "treeless"
    git(tmp_path, "clone", "-q", "--filter=tree:0", "--no-checkout", f"file://{path}", str(clone))
    shutil.rmtree(path)
    result = run(["backfill", "git", str(clone), "--dry-run"], cli_env(settings, tmp_path / "sp"))
    assert result.returncode == 0, result.stderr
    assert f"would emit change.authored for {len(expected)} commits" in result.stderr
