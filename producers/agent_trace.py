"""Agent Trace records (``.agent-trace/traces.jsonl``, spec v0.1) as ``ai`` entries.

A record (https://github.com/cursor/agent-trace, agent-trace.dev) names a ``vcs`` revision,
the ``tool`` that wrote it, and per file the conversations whose ``contributor`` (``ai``,
``human``, ``mixed``, ``unknown``; ``model_id`` as ``provider/model``) wrote line ranges; a
range may name its own contributor (an agent handoff). Lines of ``ai`` and ``mixed``
contributors count for the tool, model and conversation URL (the session).

Which commit a record belongs to: the spec's reference hook writes a record at edit time
with ``revision`` = the HEAD then, so the edit lands in the next commit on top of it. A
record counts for the commit whose first parent is its revision and that changes one of the
record's files. (The spec's wording, "positions at the recorded revision", would name the
commit itself; no writer we know of does that, and one record cannot count for both.)

The file is hostile input: it is read up to :data:`MAX_FILE_BYTES`, a line longer than
:data:`MAX_LINE_BYTES` or that is not a JSON record is counted and skipped. The first pass
keeps only each record's revision and offset; a commit's records are parsed when asked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from provenance_ledger.producers.ai_lines import Tally, entry_key, line_number, text
from provenance_ledger.producers.gitproc import is_sha
from provenance_ledger.schemas import jsonsafe

TRACE_FILE = Path(".agent-trace") / "traces.jsonl"
MAX_FILE_BYTES = 256 * 1024 * 1024
"""Read this much of the file at most (a record is about a kilobyte)."""
MAX_LINE_BYTES = 1024 * 1024
"""A longer line is not a record anyone wrote; it is skipped."""
AI_CONTRIBUTORS = ("ai", "mixed")


@dataclass
class TraceReport:
    records: int = 0
    bad_lines: int = 0
    long_lines: int = 0
    truncated: bool = False
    unreadable: str | None = None
    """Why the file could not be read, if it could not."""
    examples: list[str] = field(default_factory=list)
    """The first few reasons a line was skipped, with its line number."""

    def skip(self, number: int, why: str) -> None:
        self.bad_lines += 1
        if len(self.examples) < 3:
            self.examples.append(f"line {number}: {why}")


def _lines(handle: IO[bytes], report: TraceReport) -> Iterable[tuple[int, int, bytes]]:
    """(line number, offset, line) of the file, long lines and the rest past the cap skipped."""
    offset, number = 0, 0
    while True:
        line = handle.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        number += 1
        start, offset = offset, offset + len(line)
        if len(line) > MAX_LINE_BYTES:
            report.long_lines += 1
            while line and not line.endswith(b"\n"):  # the rest of that line
                line = handle.readline(MAX_LINE_BYTES)
                offset += len(line)
        elif line.strip():
            yield number, start, line
        if offset > MAX_FILE_BYTES:
            report.truncated = True
            return


def _record(line: bytes) -> dict[str, Any]:
    record = jsonsafe.loads(line, "the record")
    if not isinstance(record, dict) or not isinstance(record.get("files"), list):
        raise jsonsafe.JsonProblem("not_a_record", "not an Agent Trace record (no files)")
    return record


def _revision(record: dict[str, Any]) -> str | None:
    vcs = record.get("vcs")
    if not isinstance(vcs, dict) or vcs.get("type") != "git":
        return None
    revision = vcs.get("revision")
    return revision.lower() if isinstance(revision, str) and is_sha(revision.lower()) else None


class Traces:
    """The Agent Trace records of a work tree, found by the commit they belong to."""

    def __init__(self, root: Path, aliases: dict[str, str], report: TraceReport) -> None:
        self.path, self.aliases, self.report = root / TRACE_FILE, aliases, report
        self.offsets: dict[str, list[int]] = {}
        if self.path.is_file():  # not a FIFO or a device someone put there
            try:
                self._index()
            except OSError as exc:
                self.report.unreadable = exc.strerror or str(exc)
                self.offsets = {}

    def _index(self) -> None:
        with self.path.open("rb") as handle:
            for number, offset, line in _lines(handle, self.report):
                try:
                    revision = _revision(_record(line))
                except jsonsafe.JsonProblem as exc:
                    self.report.skip(number, exc.detail)
                    continue
                self.report.records += 1
                if revision is not None:
                    self.offsets.setdefault(revision, []).append(offset)

    def entries(self, parents: tuple[str, ...], files: Iterable[str] | None) -> list[dict]:
        """``ai`` entries of the records made on ``parents[0]`` for the files the commit
        changes (``files``; None when unknown: then no record can be placed)."""
        offsets = self.offsets.get(parents[0], []) if parents else []
        if not offsets or files is None:
            return []
        changed = set(files)
        tally = Tally()
        try:
            with self.path.open("rb") as handle:
                for offset in offsets:
                    handle.seek(offset)
                    try:
                        record = _record(handle.readline(MAX_LINE_BYTES + 1))
                    except jsonsafe.JsonProblem:
                        continue  # the file changed since it was indexed
                    tally_record(record, changed, tally, self.aliases)
        except OSError:
            return []  # gone since it was indexed: its records are not this run's to place
        return tally.entries()


def tally_record(
    record: dict[str, Any], changed: set[str], tally: Tally, aliases: dict[str, str]
) -> None:
    """Add the AI-written ranges of ``record``'s files in ``changed`` to ``tally``."""
    tool = record.get("tool")
    tool_name = tool.get("name") if isinstance(tool, dict) else None
    for item in record["files"]:
        path = text(item.get("path")) if isinstance(item, dict) else None
        conversations = item.get("conversations") if isinstance(item, dict) else None
        if path not in changed or not isinstance(conversations, list):
            continue
        for conversation in conversations:
            if isinstance(conversation, dict):
                _tally_conversation(conversation, path, tool_name, tally, aliases)


def _tally_conversation(
    conversation: dict[str, Any],
    path: str,
    tool_name: Any,
    tally: Tally,
    aliases: dict[str, str],
) -> None:
    default = conversation.get("contributor")
    ranges = conversation.get("ranges")
    for span in ranges if isinstance(ranges, list) else []:
        if not isinstance(span, dict):
            continue
        contributor = span.get("contributor", default)
        if not isinstance(contributor, dict) or contributor.get("type") not in AI_CONTRIBUTORS:
            continue
        key = entry_key(tool_name or "unknown", contributor.get("model_id"),
                        conversation.get("url"), aliases)  # fmt: skip
        start, end = line_number(span.get("start_line")), line_number(span.get("end_line"))
        if key is not None and start is not None and end is not None and start <= end:
            tally.add(key, path, start, end)
