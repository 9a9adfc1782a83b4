"""The AI-edit journal: which lines which tool wrote, kept in the repo's git dir until commit.

Hooks append one entry per edit to ``<git dir>/provledger/journal.jsonl``: tool, model, mode,
session, the file (relative to the repo root) and a short hash of each non-blank line the
tool wrote (hashes, not code, so the journal holds nothing secret). At commit time
:func:`fold` counts the commit's added lines whose hash a tool wrote: lines the human changed
since no longer match, so only lines still present in the committed diff count.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from producers.gitlog import git

JOURNAL = Path("provledger") / "journal.jsonl"
GROUP_KEYS = ("tool", "model", "mode", "session")


def line_hash(text: str) -> str:
    return hashlib.sha1(text.strip().encode()).hexdigest()[:16]


def hashes(text: str) -> list[str]:
    return [line_hash(line) for line in text.splitlines() if line.strip()]


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


def record(git_dir: Path, entry: dict[str, Any]) -> None:
    path = git_dir / JOURNAL
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(entry, separators=(",", ":")) + "\n"
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())
        fcntl.flock(handle, fcntl.LOCK_UN)


def entries(git_dir: Path) -> list[dict[str, Any]]:
    path = git_dir / JOURNAL
    if not path.exists():
        return []
    found = []
    for raw in path.read_text().splitlines():
        try:
            found.append(json.loads(raw))
        except ValueError:
            continue  # a torn line from a killed hook: skip it, keep the rest
    return found


def added_lines(root: Path, commit: str) -> dict[str, list[str]]:
    """The commit's added lines per file (first-parent diff; nothing for merges)."""
    diff = git(root, "show", "--format=", "--unified=0", "--no-color", "--no-ext-diff",
               "--no-renames", commit)  # fmt: skip
    added: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            name = line[4:]
            current = added.setdefault(name[2:], []) if name.startswith("b/") else None
        elif line.startswith("+") and current is not None:
            current.append(line[1:])
    return added


def fold(root: Path, git_dir: Path, commit: str, consume: bool = True) -> list[dict[str, Any]]:
    """``ai`` entries for ``commit`` from the journal; drops the folded files' entries."""
    journal = entries(git_dir)
    if not journal:
        return []
    added = added_lines(root, commit)
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
    if consume:
        keep = [entry for entry in journal if entry.get("file") not in added]
        _rewrite(git_dir, keep)
    result = []
    for group, count in lines.items():
        item = {key: value for key, value in zip(GROUP_KEYS, group, strict=True) if value}
        result.append({**item, "lines": count})
    return sorted(result, key=lambda item: -item["lines"])


def _rewrite(git_dir: Path, keep: list[dict[str, Any]]) -> None:
    path = git_dir / JOURNAL
    temp = path.with_suffix(".tmp")
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        temp.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in keep))
        temp.replace(path)
        fcntl.flock(lock, fcntl.LOCK_UN)
