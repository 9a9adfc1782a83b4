"""The AI-edit journal: which lines which tool wrote, kept in the repo's git dir until commit.

Hooks append one entry per edit to ``<git dir>/provledger/journal.jsonl``: tool, model, mode,
session, the file (relative to the repo root) and a short hash of each non-blank line the
tool wrote (hashes, not code, so the journal holds nothing secret). At commit time
:func:`fold` counts the commit's added lines whose hash a tool wrote: lines the human changed
since no longer match, so only lines still present in the committed diff count.

Hooks and the fold take one lock, ``journal.lock`` beside the journal (not the journal
itself, which the fold replaces): a fold reads and rewrites the journal under it, so an edit
recorded meanwhile is never dropped, and a hook opens the journal only once it holds it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from provenance_ledger.producers.gitproc import GIT_ENV, GitError

JOURNAL = Path("provledger") / "journal.jsonl"
LOCK = Path("provledger") / "journal.lock"
GROUP_KEYS = ("tool", "model", "mode", "session")


def line_hash(text: str) -> str:
    return hashlib.sha1(text.strip().encode()).hexdigest()[:16]


def hashes(text: str) -> list[str]:
    # Lines as git counts them (only "\n" ends one), so a committed line hashes the same.
    return [line_hash(line) for line in text.split("\n") if line.strip()]


def find_repo(start: Path) -> tuple[Path, Path] | None:
    """(work tree root, git dir) containing ``start``, found without running git."""
    for folder in (start, *start.parents):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            return folder, dot_git
        if dot_git.is_file():
            text = dot_git.read_text().strip()
            if text.startswith("gitdir:"):
                target = Path(text.split(":", 1)[1].strip())
                return folder, target if target.is_absolute() else (folder / target).resolve()
    return None


@contextmanager
def locked(git_dir: Path) -> Iterator[Path]:
    """The journal's path, held exclusively until the block ends."""
    path = git_dir / LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield git_dir / JOURNAL
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def record(git_dir: Path, entry: dict[str, Any]) -> None:
    line = json.dumps(entry, separators=(",", ":")) + "\n"
    with locked(git_dir) as path, open(path, "a") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def entries(git_dir: Path) -> list[dict[str, Any]]:
    """The journal's entries (read it under :func:`locked` to rewrite it after)."""
    path = git_dir / JOURNAL
    if not path.exists():
        return []
    found = []
    for raw in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue  # a torn line from a killed hook: skip it, keep the rest
        if isinstance(entry, dict):
            found.append(entry)
    return found


def added_lines(root: Path, commit: str) -> dict[str, list[str]]:
    """The commit's added lines per file (first-parent diff; nothing for merges).

    Each hunk header says how many lines follow, so a committed line that itself reads
    ``+++ b/other`` is counted as a line, never taken for a file header."""
    result = subprocess.run(
        ["git", "-C", str(root), "-c", "core.quotePath=false", "show", "--format=",
         "--unified=0", "--no-color", "--no-ext-diff", "--no-renames", commit],
        capture_output=True, env=GIT_ENV,
    )  # fmt: skip
    if result.returncode != 0:
        raise GitError(f"git show {commit} failed in {root}: {result.stderr.decode().strip()}")
    added: dict[str, list[str]] = {}
    current: list[str] | None = None
    old = new = 0
    for raw in result.stdout.split(b"\n"):
        line = raw.decode("utf-8", "replace")
        if old > 0 or new > 0:
            if line.startswith("+"):
                new -= 1
                if current is not None:
                    current.append(line[1:])
            elif line.startswith("-"):
                old -= 1
            continue
        if line.startswith("+++ "):
            name = line[4:]
            current = added.setdefault(name[2:], []) if name.startswith("b/") else None
        elif line.startswith("@@ "):
            old, new = _hunk_counts(line)
    return added


def _hunk_counts(header: str) -> tuple[int, int]:
    """Lines removed and added by a hunk, from ``@@ -a[,b] +c[,d] @@``."""
    fields = header.split(" ")
    counts = []
    for field in fields[1:3]:
        _, comma, count = field.partition(",")
        counts.append(int(count) if comma and count.isdigit() else 1)
    return counts[0], counts[1]


def fold(root: Path, git_dir: Path, commit: str, consume: bool = True) -> list[dict[str, Any]]:
    """``ai`` entries for ``commit`` from the journal; drops the folded files' entries."""
    if not (git_dir / JOURNAL).exists():
        return []
    added = added_lines(root, commit)
    with locked(git_dir) as path:
        journal = entries(git_dir)
        lines = _credit(journal, added)
        if consume:
            keep = [entry for entry in journal if entry.get("file") not in added]
            temp = path.with_suffix(".tmp")
            temp.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in keep))
            temp.replace(path)
    result = []
    for group, count in lines.items():
        item = {key: value for key, value in zip(GROUP_KEYS, group, strict=True) if value}
        result.append({**item, "lines": count})
    return sorted(result, key=lambda item: -item["lines"])


def _credit(journal: list[dict[str, Any]], added: dict[str, list[str]]) -> Counter[tuple[Any, ...]]:
    # Each committed line is credited once, to the most recent edit that wrote it.
    lines: Counter[tuple[Any, ...]] = Counter()
    for name, texts in added.items():
        written = [entry for entry in journal if entry.get("file") == name]
        for text in texts:
            digest = line_hash(text)
            if not text.strip():
                continue
            for entry in reversed(written):
                if digest in entry.get("hashes", ()):
                    lines[tuple(entry.get(key) for key in GROUP_KEYS)] += 1
                    break
    return lines
