"""One commit → change.authored data; ids depend on repo + commit only."""

from __future__ import annotations

from producers.ai_detect import default_rules
from producers.backfill import change_data, event_id
from producers.gitlog import Commit, _numstat

SHA = "a" * 40


def commit(**kw) -> Commit:
    base = dict(sha=SHA, parents=("b" * 40,), author_name="Ann", author_email="ann@acme.example",
                author_time="2026-01-02T03:04:05+01:00", committer_name="Ann",
                committer_email="ann@acme.example",
                message="Fix\n\nCo-authored-by: Claude <noreply@anthropic.com>",
                files=("a.py",), lines_added=3, lines_deleted=1)  # fmt: skip
    return Commit(**{**base, **kw})


def test_change_data():
    data = change_data(commit(), "acme/shop", default_rules())
    assert data == {
        "repo": "acme/shop", "commit": SHA, "author": {"id": "ann@acme.example", "name": "Ann"},
        "message": "Fix\n\nCo-authored-by: Claude <noreply@anthropic.com>", "files": ["a.py"],
        "lines_added": 3, "lines_deleted": 1, "ai": [{"tool": "claude-code", "mode": "agent"}],
    }  # fmt: skip


def test_unknown_lines_are_left_out():
    data = change_data(
        commit(files=None, lines_added=None, lines_deleted=None), "a/b", default_rules()
    )
    assert "files" not in data and "lines_added" not in data


def test_ids_are_stable_per_repo_and_commit():
    assert event_id("acme/shop", SHA) == event_id("acme/shop", SHA)
    assert event_id("acme/shop", SHA) != event_id("acme/other", SHA)


def test_numstat_with_renames_and_binaries():
    tokens = ["\n-\t-\tlogo.png", "1\t0\t", "old.py", "new.py", "4\t2\tsrc/a.py", ""]
    assert _numstat(tokens) == (("logo.png", "new.py", "src/a.py"), 5, 2)
