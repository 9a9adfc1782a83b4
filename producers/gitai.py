"""git-ai's authorship notes (``refs/notes/ai``, schema ``authorship/3.0.0``) as ``ai`` entries.

A note is an attestation section, a line ``---``, and a JSON metadata section
(https://github.com/git-ai-project/git-ai, specs/git_ai_standard_v3.0.0.md)::

    src/main.rs
      s_c9883b05a2487d::t_9f8e7d6c5b4a32 1-10,15-20
      h_31dce776f88375 35-40
    ---
    {"schema_version": "authorship/3.0.0", "prompts": {...},
     "sessions": {"s_c9883b05a2487d": {"agent_id": {"tool": "cursor", "id": "…", "model": "…"}}}}

Keys ``s_<id>::t_<trace>`` name a session (``metadata.sessions``), bare hex keys a legacy
prompt (``metadata.prompts``), ``h_`` keys a human. Each AI session becomes one entry: its
tool, model, session id and the distinct lines it wrote. Notes are hostile input: each is
read by length and at most :data:`MAX_NOTE_BYTES`, its ranges are capped
(:data:`ai_lines.MAX_RANGES`), and a note that does not parse is reported, never fatal.

:class:`Notes` lists the notes once (``git notes list``) and reads the ones asked for through
one ``git cat-file --batch``, so a backfill starts two git processes however long the history.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from provenance_ledger.producers.ai_lines import Key, Tally, entry_key, line_number
from provenance_ledger.producers.gitproc import GIT_ENV, GitError, git, is_sha
from provenance_ledger.schemas import jsonsafe

NOTES_REF = "refs/notes/ai"
SCHEMA = "authorship/"
MAX_NOTE_BYTES = 4 * 1024 * 1024
"""A note is a few kilobytes; one past this is reported and skipped (read, not kept)."""
MAX_RECORDS = 10_000
"""Sessions and prompts one note's metadata may describe."""


class NoteError(ValueError):
    pass


@dataclass(frozen=True)
class NoteAttribution:
    entries: list[dict[str, Any]]
    dropped_ranges: int = 0


def _split(note: str) -> tuple[list[str], str]:
    """(attestation lines, metadata text) around the divider line ``---``."""
    lines = note.split("\n")
    try:
        divider = [line.rstrip("\r") for line in lines].index("---")
    except ValueError:
        raise NoteError("no --- line between attestations and metadata") from None
    return lines[:divider], "\n".join(lines[divider + 1 :])


def _records(metadata: dict[str, Any], aliases: dict[str, str]) -> dict[str, Key]:
    """Session ids and legacy prompt hashes → the entry their agent_id names."""
    found: dict[str, Key] = {}
    for section in ("sessions", "prompts"):
        records = metadata.get(section)
        if not isinstance(records, dict):
            continue
        for name, record in list(records.items())[:MAX_RECORDS]:
            agent = record.get("agent_id") if isinstance(record, dict) else None
            if not isinstance(agent, dict):
                continue
            key = entry_key(agent.get("tool"), agent.get("model"), agent.get("id"), aliases)
            if key is not None:
                found[name] = key
    return found


def _number(digits: str) -> int | None:
    """A line number written in ASCII digits (``str.isdigit`` also takes ``²``)."""
    if digits.isascii() and digits.isdigit() and len(digits) <= 8:
        return line_number(int(digits))
    return None


def _ranges(spec: str, room: int) -> tuple[list[tuple[int, int]], int]:
    """(the ranges of ``1-4,9,12-20``, the parts past the first ``room`` left unread); a part
    that is not a range is left out."""
    if room <= 0:
        return [], spec.count(",") + 1
    parts = spec.split(",", room)
    unread = parts.pop().count(",") + 1 if len(parts) > room else 0
    found = []
    for part in parts:
        first, dash, last = part.partition("-")
        low = _number(first)
        high = _number(last) if dash else low
        if low is not None and high is not None and low <= high:
            found.append((low, high))
    return found, unread


def parse_note(note: str, aliases: dict[str, str]) -> NoteAttribution:
    """The ``ai`` entries of one authorship log; :class:`NoteError` if it is not one."""
    attestations, metadata_text = _split(note)
    try:
        metadata = jsonsafe.loads(metadata_text, "the note's metadata")
    except jsonsafe.JsonProblem as exc:
        raise NoteError(exc.detail) from exc
    version = metadata.get("schema_version") if isinstance(metadata, dict) else None
    if not isinstance(version, str) or not version.startswith(SCHEMA):
        raise NoteError("the metadata has no authorship schema_version")
    records = _records(metadata, aliases)
    tally = Tally()
    for named in records.values():
        tally.entry(named)
    path = None
    for line in attestations:
        if not line.startswith(" "):
            path = line.strip().strip('"') or None
            continue
        if path is None or not line.startswith("  "):
            continue
        name, _, spec = line[2:].partition(" ")
        key = records.get(name.split("::", 1)[0])  # h_ keys (humans) name no record here
        if key is None:
            continue
        spans, unread = _ranges(spec.strip(), tally.room)
        for start, end in spans:
            tally.add(key, path, start, end)
        tally.dropped += unread
    return NoteAttribution(tally.entries(), tally.dropped)


@dataclass
class NoteReport:
    read: int = 0
    not_used: int = 0
    truncated: int = 0
    """Notes read with more ranges than :data:`ai_lines.MAX_RANGES` (the rest left out)."""
    examples: list[tuple[str, str]] = field(default_factory=list)
    """The first few (commit, why its note was not used)."""

    def skip(self, sha: str, why: str) -> None:
        self.not_used += 1
        if len(self.examples) < 3:
            self.examples.append((sha, why))


class Notes:
    """The notes under ``refs/notes/ai`` of the repository at ``root``, read on demand."""

    def __init__(
        self, root: Path, aliases: dict[str, str], report: NoteReport, only: str | None = None
    ) -> None:
        self.root, self.aliases, self.report = root, aliases, report
        self.blobs = list_notes(root, only)
        self._process: subprocess.Popen[bytes] | None = None

    def attribution(self, sha: str) -> NoteAttribution | None:
        """The note of commit ``sha`` as ``ai`` entries; None if it has none or a bad one."""
        blob = self.blobs.get(sha)
        if blob is None:
            return None
        try:
            raw = self._read(blob)
            found = parse_note(raw.decode("utf-8", "replace"), self.aliases)
        except NoteError as exc:
            self.report.skip(sha, str(exc))
            return None
        self.report.read += 1
        self.report.truncated += found.dropped_ranges > 0
        return found

    def _read(self, blob: str) -> bytes:
        if self._process is None:
            # cat-file says what it cannot read on stdout ("missing"); stderr would only fill.
            self._process = subprocess.Popen(
                ["git", "-C", str(self.root), "cat-file", "--batch"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                env=GIT_ENV,
            )  # fmt: skip
        assert self._process.stdin is not None and self._process.stdout is not None
        try:
            self._process.stdin.write(blob.encode() + b"\n")
            self._process.stdin.flush()
        except OSError as exc:
            raise GitError(f"git cat-file stopped in {self.root}: {exc}") from exc
        return _blob(self._process.stdout, blob)

    def close(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None


def _blob(out: IO[bytes], blob: str) -> bytes:
    """The blob's bytes, or :class:`NoteError` (after reading past it) when it is too large
    or not a blob: the stream stays in step either way."""
    header = out.readline().split()
    if header == [blob.encode(), b"missing"]:
        raise NoteError("the note's blob is missing")
    if len(header) != 3 or header[0] != blob.encode() or not header[2].isdigit():
        raise GitError(f"git cat-file answered {b' '.join(header)[:200]!r} for {blob}")
    size = int(header[2])
    if header[1] != b"blob" or size > MAX_NOTE_BYTES:
        left = size + 1
        while left > 0:
            chunk = out.read(min(left, 1 << 20))
            if not chunk:
                raise GitError(f"git cat-file stopped in the middle of {blob}")
            left -= len(chunk)
        why = "not a blob" if header[1] != b"blob" else f"{size:,} bytes, over {MAX_NOTE_BYTES:,}"
        raise NoteError(f"the note is {why}")
    body = out.read(size + 1)
    if len(body) != size + 1:
        raise GitError(f"git cat-file stopped in the middle of {blob}")
    return body[:-1]


def list_notes(root: Path, sha: str | None = None) -> dict[str, str]:
    """Commit → note blob under ``refs/notes/ai``: every note, or commit ``sha``'s; empty
    when there is none."""
    try:
        if sha is not None:
            blob = git(root, "notes", f"--ref={NOTES_REF}", "list", sha).strip()
            return {sha: blob} if is_sha(blob) else {}
        listing = git(root, "notes", f"--ref={NOTES_REF}", "list")
    except GitError:
        return {}  # no notes ref, or no note for rev
    found = {}
    for line in listing.splitlines():
        blob, _, commit = line.partition(" ")
        if is_sha(blob) and is_sha(commit):
            found[commit] = blob
    return found
