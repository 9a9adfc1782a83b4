"""AI attribution from the records tools write: git-ai notes, Agent Trace records, trailers
and agent authors, on the recorded samples (tests/fixtures/attribution) and hostile variants."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provenance_ledger.producers.agent_trace import TRACE_FILE, TraceReport, Traces
from provenance_ledger.producers.ai_detect import CommitText, default_rules, detect_sources
from provenance_ledger.producers.ai_lines import MAX_RANGES, distinct_lines
from provenance_ledger.producers.attribution import cap_lines, rank
from provenance_ledger.producers.backfill import change_data
from provenance_ledger.producers.gitai import NoteError, parse_note
from provenance_ledger.producers.gitlog import Commit

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "attribution"
ALIASES = default_rules().aliases
REVISION = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0"
MB = 1 << 20
AGENT = "Copilot <198982749+Copilot@users.noreply.github.com>"


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


def test_a_git_ai_note_with_sessions():
    found = parse_note(sample("gitai-note-sessions.txt"), ALIASES)
    assert found.entries == [
        # src/main.rs 1-10, 15-20, 25, 30-35 across two traces of one session; h_ is a human
        {"tool": "cursor", "model": "claude-sonnet-4-5-20250514",
         "session": "6ef2299e-a67f-432b-aa80-3d2fb4d28999", "lines": 23},
        {"tool": "claude-code", "model": "claude-sonnet-4-5-20250514",
         "session": "conv_abc123def456", "lines": 50},
    ]  # fmt: skip


def test_a_git_ai_note_with_legacy_prompts():
    found = parse_note(sample("gitai-note-legacy.txt"), ALIASES)
    assert [(e["model"], e["session"][:8], e["lines"]) for e in found.entries] == [
        ("claude-4.5-opus", "6ef2299e", 16 + 50),
        ("claude-3-sonnet", "a1b2c3d4", 7),
    ]
    assert {e["tool"] for e in found.entries} == {"cursor"}


@pytest.mark.parametrize(
    ("note", "reason"),
    [
        ("src/a.py\n  abcd1234abcd1234 1-3\n", "no ---"),
        ('src/a.py\n  abcd1234abcd1234 1-3\n---\n{"prompts": ', "not JSON"),
        ("---\n" + "[" * 10_000 + "]" * 10_000, "deeper than"),
        ('---\n{"schema_version": "whogitit/2"}', "schema_version"),
        ("---\n[1, 2]", "schema_version"),
    ],
    ids=["no divider", "truncated metadata", "deep nesting", "another format", "not an object"],
)
def test_a_note_that_is_not_an_authorship_log_is_an_error_for_it(note, reason):
    with pytest.raises(NoteError, match=reason):
        parse_note(note, ALIASES)


def note_with(attestations: str, tool: object = "cursor") -> str:
    agent = {"tool": tool, "id": "c1", "model": "m"}
    metadata = {"schema_version": "authorship/3.0.0", "sessions": {"s_1": {"agent_id": agent}}}
    return f"{attestations}\n---\n{json.dumps(metadata)}"


def test_bad_ranges_and_keys_are_left_out():
    note = note_with(
        "src/a.py\n  s_1::t_1 0,5-2,abc,-3,99999999999,3-,²,٣,1-²,7,1-2\n   s_1::t_2 40\n"
        '  s_unknown::t_1 1-100\n  h_31dce776f88375 1-100\n"src/b c.py"\n  s_1::t_3 1-2,2-4'
    )
    assert parse_note(note, ALIASES).entries == [
        {"tool": "cursor", "model": "m", "session": "c1", "lines": 3 + 4}
    ]
    assert parse_note(note_with("src/a.py\n  s_1::t_1 1-3", tool=["x"]), ALIASES).entries == []


@pytest.mark.timeout(10)
def test_a_hundred_thousand_ranges_are_counted():
    spans = ",".join(f"{2 * n + 1}" for n in range(100_000))
    found = parse_note(note_with(f"src/a.py\n  s_1::t_1 {spans},1-10"), ALIASES)
    assert found.entries[0]["lines"] == 100_000 + 5 and found.dropped_ranges == 0


@pytest.mark.timeout(10)
def test_ranges_past_the_cap_are_dropped_and_said():
    spans = ",".join("1-1000" for _ in range(MAX_RANGES + 50))
    found = parse_note(note_with(f"src/a.py\n  s_1::t_1 {spans}\n  s_1::t_2 1,2"), ALIASES)
    assert found.entries[0]["lines"] == 1000 and found.dropped_ranges == 50 + 2


def test_distinct_lines_counts_each_line_once():
    assert distinct_lines([(1, 3), (2, 5), (10, 12), (11, 11), (13, 13)]) == 5 + 4
    assert distinct_lines([]) == 0


def traces(tmp_path: Path, text: str) -> tuple[Traces, TraceReport]:
    (tmp_path / TRACE_FILE).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / TRACE_FILE).write_text(text)
    report = TraceReport()
    return Traces(tmp_path, ALIASES, report), report


SPEC_FILES = ("src/utils/parser.ts", "src/utils/helpers.ts", "src/app.ts")


def test_agent_trace_records_count_for_the_commit_made_on_their_revision(tmp_path):
    found, report = traces(tmp_path, sample("traces.jsonl"))
    assert report.records == 3 and report.bad_lines == 0
    assert found.entries((REVISION,), SPEC_FILES) == [
        {"tool": "cursor", "model": "claude-opus-4-5-20251101",
         "session": "https://api.cursor.com/v1/conversations/12345", "lines": 26},
        {"tool": "cursor", "model": "gpt-4o",
         "session": "https://api.cursor.com/v1/conversations/12345", "lines": 16},
        {"tool": "unknown", "lines": 50},
        {"tool": "claude-code", "model": "claude-sonnet-4-20250514",
         "session": "file:///home/dev/.claude/projects/shop/5f1c.jsonl", "lines": 10},
    ]  # fmt: skip
    only_parser = found.entries((REVISION,), ("src/utils/parser.ts",))
    assert [(e["tool"], e["lines"]) for e in only_parser] == [("cursor", 26), ("claude-code", 10)]


def test_agent_trace_records_need_the_revision_and_a_changed_file(tmp_path):
    found, _ = traces(tmp_path, sample("traces.jsonl"))
    assert found.entries(("b" * 40,), SPEC_FILES) == []  # made on another commit
    assert found.entries((REVISION,), ("README.md",)) == []  # not this commit's files
    assert found.entries((REVISION,), None) == []  # files unknown (a shallow boundary)
    assert found.entries((), SPEC_FILES) == []  # a root commit
    nowhere = Traces(tmp_path / "elsewhere", ALIASES, TraceReport())
    assert nowhere.entries((REVISION,), SPEC_FILES) == []


def test_hostile_trace_lines_are_skipped_and_reported(tmp_path):
    good = sample("traces.jsonl").splitlines()[1]  # the minimal record: src/app.ts 1-50
    bad_ranges = json.loads(good)
    bad_ranges["files"][0]["conversations"][0]["ranges"] = [
        {"start_line": 9, "end_line": 3}, {"start_line": True, "end_line": 2},
        {"start_line": "70", "end_line": 75}, {"start_line": 0, "end_line": 2}, "x",
        {"start_line": 60, "end_line": 61},
    ]  # fmt: skip
    lines = [
        "{not json", "[1, 2]", '{"files": 3}', "[" * 100_000, "x" * (2 * MB), "", good,
        json.dumps(bad_ranges), json.dumps({**json.loads(good), "vcs": {"type": "hg"}}),
    ]  # fmt: skip
    found, report = traces(tmp_path, "\n".join(lines) + "\n")
    assert (report.records, report.bad_lines, report.long_lines) == (3, 4, 1)
    assert report.examples[0].startswith("line 1: ")
    assert found.entries((REVISION,), ("src/app.ts",)) == [{"tool": "unknown", "lines": 52}]


def test_a_trace_path_that_is_not_a_file_is_not_read(tmp_path):
    (tmp_path / TRACE_FILE).parent.mkdir()
    (tmp_path / TRACE_FILE).mkdir()
    assert Traces(tmp_path, ALIASES, TraceReport()).offsets == {}


def commit_from(name: str, **changes) -> tuple[CommitText, Commit]:
    head, _, message = sample(name).partition("\n\n")
    author = head.removeprefix("author ").strip()
    name_part, _, email = author.partition(" <")
    commit = Commit(
        sha="c" * 40, parents=(REVISION,), author_name=name_part, author_email=email[:-1],
        author_time="2026-01-02T03:04:05+00:00", committer_name="Ann Dev",
        committer_email="ann@acme.example", message=message.rstrip("\n"),
        files=("src/main.rs",), lines_added=40, lines_deleted=0,
    )  # fmt: skip
    return CommitText(author, commit.message), Commit(**{**commit.__dict__, **changes})


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("kernel-assisted-by.txt", [{"tool": "claude-code", "model": "claude-3-opus"}]),
        ("fedora-assisted-by.txt", [{"tool": "generic-llm-chatbot"}, {"tool": "chatgptv5"}]),
        ("openinfra-generated-by.txt", [{"tool": "gemini-cli", "model": "gemini-2.5-pro"}]),
        ("copilot-agent-squashed.txt", [{"tool": "copilot-agent", "mode": "agent"}]),
    ],
)
def test_trailers_state_assistance(name, expected):
    text, _ = commit_from(name)
    found = detect_sources(text)
    assert (found.stated, found.suggested, found.requester) == (expected, [], None)


def test_the_copilot_coding_agent_worked_for_its_co_author():
    text, commit = commit_from("copilot-agent.txt")
    found = detect_sources(text)
    assert found.suggested == [{"tool": "copilot-agent", "mode": "agent"}]
    assert found.requester == "octocat <583231+octocat@users.noreply.github.com>"
    data = change_data(commit, "acme/shop", default_rules())
    assert data["author"] == {"id": "583231+octocat@users.noreply.github.com", "name": "octocat"}
    assert data["ai"] == [{"tool": "copilot-agent", "mode": "agent"}]
    alone = commit_from("copilot-agent.txt", message="Add retries")[1]
    assert change_data(alone, "acme/shop", default_rules())["author"]["name"] == "Copilot"
    # A co-author with no email is nobody to credit: the next one is taken.
    odd = "x\n\nCo-authored-by: <>\nCo-authored-by: Bob\nCo-authored-by: Ann <ann@acme.example>"
    assert detect_sources(CommitText(AGENT, odd)).requester == "Ann <ann@acme.example>"


def test_recorded_sources_outrank_trailers_and_trailers_outrank_authors():
    note = [{"tool": "cursor", "model": "claude-sonnet-4-5", "session": "s1", "lines": 12},
            {"tool": "cursor", "session": "s2", "lines": 3}]  # fmt: skip
    traced = [{"tool": "cursor", "model": "gpt-4o", "session": "t1", "lines": 99},
              {"tool": "unknown", "lines": 4}]  # fmt: skip
    stated = [{"tool": "cursor", "model": "gpt-5", "mode": "agent"}, {"tool": "claude-code"}]
    suggested = [{"tool": "claude-code", "mode": "agent"}, {"tool": "aider", "mode": "chat"}]
    assert rank(note, traced, stated, suggested) == [
        {"tool": "cursor", "model": "claude-sonnet-4-5", "session": "s1", "lines": 12,
         "mode": "agent"},
        {"tool": "cursor", "session": "s2", "lines": 3, "model": "gpt-5", "mode": "agent"},
        # another session of a named tool is added; a trailer (no session) only fills
        {"tool": "cursor", "model": "gpt-4o", "session": "t1", "lines": 99, "mode": "agent"},
        {"tool": "unknown", "lines": 4},
        {"tool": "claude-code", "mode": "agent"},
        {"tool": "aider", "mode": "chat"},
    ]  # fmt: skip
    assert note[1] == {"tool": "cursor", "session": "s2", "lines": 3}  # inputs are not changed
    # Another session's model is not this one's; the same session's is.
    assert rank(note[1:], [{"tool": "cursor", "session": "s2", "model": "o3"}]) == [
        {"tool": "cursor", "session": "s2", "lines": 3, "model": "o3"}
    ]


def test_no_entry_claims_more_lines_than_the_commit_added():
    entries = [{"tool": "cursor", "lines": 10_000_000}, {"tool": "copilot"}]
    assert cap_lines(entries, 40) == [{"tool": "cursor", "lines": 40}, {"tool": "copilot"}]
    assert cap_lines(entries, None) == entries


class Recorded:
    """What :class:`attribution.Sources` would read for a commit (for change_data alone)."""

    def __init__(self, note: list[dict], traced: list[dict]) -> None:
        self.found = (note, traced)

    def recorded(self, sha, parents, files):
        return self.found


def test_a_change_carries_the_recorded_entries_first():
    _, commit = commit_from("kernel-assisted-by.txt")
    note = [{"tool": "claude-code", "session": "conv_1", "lines": 500}]
    data = change_data(commit, "acme/shop", default_rules(), Recorded(note, []))  # type: ignore[arg-type]
    assert data["ai"] == [
        {"tool": "claude-code", "session": "conv_1", "lines": 40, "model": "claude-3-opus"}
    ]


def test_the_hook_journal_keeps_the_sessions_a_note_adds():
    from provenance_ledger.producers.emit_git import merge_ai

    journal = [{"tool": "claude-code", "mode": "agent", "session": "j1", "lines": 12}]
    found = [{"tool": "claude-code", "model": "claude-opus-4-5", "session": "conv_9", "lines": 30},
             {"tool": "claude-code", "model": "claude-opus-4-5"}]  # fmt: skip
    assert merge_ai(found, journal) == [
        {"tool": "claude-code", "mode": "agent", "session": "j1", "lines": 12,
         "model": "claude-opus-4-5"},
        {"tool": "claude-code", "model": "claude-opus-4-5", "session": "conv_9", "lines": 30},
    ]  # fmt: skip


def test_the_report_counts_what_was_not_used():
    from provenance_ledger.producers.attribution import AttributionReport

    report = AttributionReport()
    assert report.summary() == []
    report.notes.read, report.notes.truncated = 4, 1
    for n in range(5):
        report.notes.skip(f"{n}" * 40, "no --- line between attestations and metadata")
    report.traces.records, report.traces.long_lines, report.traces.truncated = 7, 2, True
    assert report.summary() == [
        "read 4 git-ai notes (refs/notes/ai) and 7 Agent Trace records",
        f"5 git-ai notes not used, e.g. {'0' * 40}: no --- line between attestations and metadata",
        f"1 git-ai notes name more than {MAX_RANGES:,} line ranges: the rest were left out",
        "2 lines of .agent-trace/traces.jsonl skipped, and the file was read up to its size "
        "limit only (lines over the size limit)",
    ]
    assert len(report.notes.examples) == 3


def test_a_trace_file_that_cannot_be_read_or_is_gone_is_no_record(tmp_path, monkeypatch):
    from provenance_ledger.producers.attribution import AttributionReport

    found, _ = traces(tmp_path, sample("traces.jsonl"))
    (tmp_path / TRACE_FILE).unlink()  # removed after it was indexed
    assert found.entries((REVISION,), SPEC_FILES) == []
    traces(tmp_path, sample("traces.jsonl"))

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", refuse)
    report = AttributionReport()
    assert Traces(tmp_path, ALIASES, report.traces).offsets == {}
    assert report.problems() == [f"cannot read {TRACE_FILE}: Permission denied"]
