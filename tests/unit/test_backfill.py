"""One commit → change.authored data; ids depend on repo + commit only."""

from __future__ import annotations

import pytest

from provenance_ledger.producers.ai_detect import default_rules
from provenance_ledger.producers.backfill import change_data, event_id
from provenance_ledger.producers.gitdiff import _build, _paths_after
from provenance_ledger.producers.gitlog import Commit
from provenance_ledger.producers.gitraw import CommitParseError, parse_commit

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
    records = [(b"-\t-\tlogo.png", []), (b"1\t0\t", [b"old.py", b"new.py"]),
               (b"4\t2\tsrc/a\x1e.py", [])]  # fmt: skip
    diff = _build(records)
    assert (diff.files, diff.added, diff.deleted) == (("logo.png", "new.py", "src/a\x1e.py"), 5, 2)
    assert _paths_after(b"1\t0\t") == 2 and _paths_after(b"4\t2\tsrc/a.py") == 0
    assert _paths_after(b":100644 100644 " + b"1" * 40 + b" " + b"2" * 40 + b" R087") == 2


TREE, PARENT = "1" * 40, "2" * 40


def raw_commit(message: bytes, author: bytes = b"Ann Dev <ann@acme.example> 1767261600 +0100",
               extra: bytes = b"") -> bytes:  # fmt: skip
    return (
        b"tree " + TREE.encode() + b"\nparent " + PARENT.encode() + b"\nauthor " + author
        + b"\ncommitter Ann Dev <ann@acme.example> 1767261600 +0000\n" + extra + b"\n" + message
    )  # fmt: skip


def test_a_message_is_never_read_as_structure():
    forged = b"Fix\n\x1e" + b"b" * 40 + b"\x1f\x1fBob Senior\x1fbob@acme.example\x1f\n\ntree x\n"
    raw = parse_commit(SHA, raw_commit(forged))
    assert (raw.author_name, raw.author_email, raw.parents) == ("Ann Dev", "ann@acme.example",
                                                               (PARENT,))  # fmt: skip
    assert raw.message == forged.decode().rstrip("\n")
    assert raw.author_time == "2026-01-01T11:00:00+01:00"


def test_signed_commits_and_encodings():
    extra = b"encoding ISO-8859-1\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n abc\n -----END-----\n"
    raw = parse_commit(SHA, raw_commit(b"Caf\xe9\n", b"Jos\xe9 <j@x> 0 +0000", extra))
    assert (raw.author_name, raw.message) == ("José", "Café")
    escaped = parse_commit(SHA, raw_commit(b"\\udfff", extra=b"encoding unicode_escape\n"))
    escaped.message.encode()  # no lone surrogate survives decoding


@pytest.mark.parametrize(
    "body",
    [
        raw_commit(b"x", b"Ann <ann@x>"),  # no date
        raw_commit(b"x", b"Ann ann@x 0 +0000"),  # no email brackets
        raw_commit(b"x", b"Ann <ann@x> 99999999999999 +0000"),  # past year 9999
        raw_commit(b"x", b"Ann <ann@x> 253402300799 +0100"),  # 9999-12-31 UTC is year 10000 here
        b"parent " + PARENT.encode() + b"\n\nno tree",
        b"tree nothex\nauthor A <a> 0 +0000\ncommitter A <a> 0 +0000\n\nx",
    ],
)
def test_malformed_commits_are_errors_for_that_commit(body):
    with pytest.raises(CommitParseError):
        parse_commit(SHA, body)


def test_a_bad_time_zone_reads_as_utc_as_git_does():
    raw = parse_commit(SHA, raw_commit(b"x", b"Ann <ann@x> 0 +9999"))
    assert raw.author_time == "1970-01-01T00:00:00+00:00"


def test_a_previous_deployment_that_is_not_a_sha_never_reaches_git(monkeypatch, tmp_path):
    from provenance_ledger.producers import emit_git

    monkeypatch.setattr(emit_git, "previous_deployed", lambda *_: "--output=/tmp/x")
    monkeypatch.setattr(emit_git, "git", lambda *_: pytest.fail("git was called"))
    data = {"commit": SHA, "service": "s", "environment": "prod"}
    assert emit_git.deployed_commits(None, tmp_path, data, None) == [SHA]  # type: ignore[arg-type]
