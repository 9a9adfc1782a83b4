"""Which AI tools wrote a commit, from every source that says so, ranked.

Sources, most trusted first:

1. what the tools record themselves: git-ai's note on the commit (``refs/notes/ai``), then
   Agent Trace records (``.agent-trace/traces.jsonl``); they name the session, the model and
   the lines written;
2. what trailers state: ``Co-authored-by``, ``Assisted-by``, ``Generated-by``;
3. what authors and message text suggest: a bot author or committer, an ``aider:`` subject,
   a "Generated with Claude Code" footer.

A source adds the tools the sources above it do not name, and sessions of a tool they name
in other sessions; else it only fills in a model or mode they left out (an entry of one
session only into that session's). No entry claims more lines than the commit added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from provenance_ledger.producers.agent_trace import TRACE_FILE, TraceReport, Traces
from provenance_ledger.producers.ai_lines import MAX_RANGES
from provenance_ledger.producers.gitai import NoteReport, Notes

FILLED = ("model", "mode")
"""What a less trusted source may add to a tool a more trusted one named."""


def rank(*sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``ai`` entries of ``sources`` (most trusted first), merged as the module says."""
    merged: list[dict[str, Any]] = []
    for source in sources:
        above = list(merged)
        for entry in source:
            if _adds(entry, above):
                merged.append(dict(entry))
                continue
            for kept in merged:
                if kept["tool"] == entry["tool"] and _same_session(kept, entry):
                    for key in FILLED:
                        if key not in kept and key in entry:
                            kept[key] = entry[key]
    return merged


def _adds(entry: dict[str, Any], above: list[dict[str, Any]]) -> bool:
    """Whether ``entry`` names a tool, or a session of it, that no entry ``above`` names."""
    same_tool = [kept for kept in above if kept["tool"] == entry["tool"]]
    session = entry.get("session")
    return not same_tool or (
        session is not None
        and all(kept.get("session") not in (None, session) for kept in same_tool)
    )


def _same_session(kept: dict[str, Any], entry: dict[str, Any]) -> bool:
    return "session" not in entry or kept.get("session") in (None, entry["session"])


def cap_lines(entries: list[dict[str, Any]], lines_added: int | None) -> list[dict[str, Any]]:
    """A note or trace may claim any line numbers; the commit added ``lines_added``."""
    if lines_added is None:
        return entries
    return [
        {**entry, "lines": min(entry["lines"], lines_added)} if "lines" in entry else entry
        for entry in entries
    ]


@dataclass
class AttributionReport:
    notes: NoteReport = field(default_factory=NoteReport)
    traces: TraceReport = field(default_factory=TraceReport)

    def summary(self) -> list[str]:
        """Lines for the end-of-run report: what was read, then :meth:`problems`."""
        read = []
        if self.notes.read:
            read.append(f"{self.notes.read} git-ai notes (refs/notes/ai)")
        if self.traces.records:
            read.append(f"{self.traces.records} Agent Trace records")
        return ([f"read {' and '.join(read)}"] if read else []) + self.problems()

    def problems(self) -> list[str]:
        """What was found but not used, one line per source."""
        lines = []
        notes = self.notes
        if notes.not_used:
            sha, why = notes.examples[0]
            lines.append(f"{notes.not_used} git-ai notes not used, e.g. {sha}: {why}")
        if notes.truncated:
            lines.append(f"{notes.truncated} git-ai notes name more than {MAX_RANGES:,} line "
                         "ranges: the rest were left out")  # fmt: skip
        traces = self.traces
        if traces.unreadable:
            lines.append(f"cannot read {TRACE_FILE}: {traces.unreadable}")
        skipped = traces.bad_lines + traces.long_lines
        if skipped or traces.truncated:
            detail = "; ".join(traces.examples) or "lines over the size limit"
            cut = ", and the file was read up to its size limit only" if traces.truncated else ""
            lines.append(f"{skipped} lines of {TRACE_FILE} skipped{cut} ({detail})")
        return lines

    def document(self) -> dict[str, Any]:
        return {
            "git_ai_notes": {
                "read": self.notes.read,
                "not_used": self.notes.not_used,
                "truncated": self.notes.truncated,
            },
            "agent_trace": {
                "records": self.traces.records,
                "skipped_lines": self.traces.bad_lines + self.traces.long_lines,
                "truncated": self.traces.truncated,
            },
        }


class Sources:
    """git-ai notes and Agent Trace records of the work tree at ``root``, for one run;
    ``only`` limits the notes read to that commit's (the commit-time emit)."""

    def __init__(
        self,
        root: Path,
        aliases: dict[str, str],
        report: AttributionReport,
        only: str | None = None,
    ) -> None:
        self.notes = Notes(root, aliases, report.notes, only)
        self.traces = Traces(root, aliases, report.traces)

    def recorded(
        self, sha: str, parents: tuple[str, ...], files: tuple[str, ...] | None
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(the note's entries, the trace records' entries) of one commit."""
        note = self.notes.attribution(sha)
        return (note.entries if note else []), self.traces.entries(parents, files)

    def __enter__(self) -> Sources:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.notes.close()
