"""Read commits from one streaming ``git log`` (never one git process per commit).

Shallow clones: the boundary commits have no parent here, so their diff would claim every
file as new; their files and lines are left unknown. Partial (blobless) clones: ``--numstat``
would try to fetch missing blobs from the promisor remote (and die offline), so files come
from ``--raw`` (trees are local) and lines only for commits whose blobs are all present.
"""

from __future__ import annotations

import os
import queue
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

FIELDS = ("%H", "%P", "%an", "%ae", "%aI", "%cn", "%ce", "%B")
FORMAT = "%x1e" + "%x1f".join(FIELDS) + "%x1f"
ZERO = "0" * 40
PARTIAL_KEYS = r"^(remote\..*\.promisor|extensions\.partialclone)$"
# Newer gits honour this; older ones are kept from lazy fetches by never asking for a blob.
GIT_ENV = {**os.environ, "GIT_NO_LAZY_FETCH": "1", "LC_ALL": "C"}


class GitError(RuntimeError):
    pass


@dataclass(frozen=True)
class Commit:
    sha: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    author_time: str
    committer_name: str
    committer_email: str
    message: str
    files: tuple[str, ...] | None = None
    lines_added: int | None = None
    lines_deleted: int | None = None

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1


@dataclass
class Skipped:
    """What could not be read, for the end-of-run report."""

    shallow: list[str] = field(default_factory=list)
    missing_blobs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RepoInfo:
    root: Path
    git_dir: Path
    shallow: frozenset[str]
    partial: bool


def git(path: Path | str, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(path), *args], capture_output=True, text=True, env=GIT_ENV
    )
    if result.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed in {path}: {result.stderr.strip()}")
    return result.stdout


def repo_info(path: Path | str) -> RepoInfo:
    out = git(path, "rev-parse", "--show-toplevel", "--absolute-git-dir").splitlines()
    root, git_dir = Path(out[0]), Path(out[1])
    shallow_file = git_dir / "shallow"
    shallow = frozenset(shallow_file.read_text().split()) if shallow_file.exists() else frozenset()
    config = subprocess.run(
        ["git", "-C", str(path), "config", "--get-regexp", PARTIAL_KEYS],
        capture_output=True, text=True, env=GIT_ENV,
    ).stdout  # fmt: skip
    values = [line.split(" ", 1)[-1].strip() for line in config.splitlines()]
    partial = any(value not in ("", "false") for value in values)
    return RepoInfo(root, git_dir, shallow, partial)


def _stream(path: Path, args: list[str]) -> Iterator[str]:
    """Records of ``git log`` output split on the 0x1e that starts each commit.

    A reader thread drains the pipe so git never waits for Python: on two cores git's diffing
    and our parsing overlap instead of taking turns.
    """
    # stderr goes to a file, not a pipe: git never blocks on its own warnings.
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            ["git", "-C", str(path), *args], stdout=subprocess.PIPE, stderr=stderr, env=GIT_ENV
        )
        chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=256)

        def pump() -> None:
            assert process.stdout is not None
            while chunk := process.stdout.read1(1 << 20):
                chunks.put(chunk)
            chunks.put(None)

        threading.Thread(target=pump, daemon=True).start()
        try:
            tail = b""
            while (chunk := chunks.get()) is not None:
                parts = (tail + chunk).split(b"\x1e")
                tail = parts.pop()
                for part in parts:
                    if part:
                        yield part.decode("utf-8", errors="replace")
            if tail:
                yield tail.decode("utf-8", errors="replace")
            if process.wait() != 0:
                stderr.seek(0)
                message = stderr.read().decode(errors="replace").strip()
                raise GitError(f"git {' '.join(args[:3])}… failed in {path}: {message}")
        finally:
            if process.poll() is None:  # the caller stopped early
                process.kill()
                process.wait()


def _numstat(tokens: list[str]) -> tuple[tuple[str, ...], int, int]:
    files: list[str] = []
    added = deleted = 0
    index = 0
    while index < len(tokens):
        token = tokens[index].lstrip("\n")
        index += 1
        if not token:
            continue
        a, d, name = token.split("\t", 2)
        if name == "":  # a rename: the old and new paths follow as their own tokens
            name = tokens[index + 1]
            index += 2
        files.append(name)
        added += int(a) if a != "-" else 0
        deleted += int(d) if d != "-" else 0
    return tuple(files), added, deleted


def _raw(tokens: list[str]) -> tuple[tuple[str, ...], set[str]]:
    """Files and the blob ids a diff of them would need, from ``--raw -z`` tokens."""
    files: list[str] = []
    blobs: set[str] = set()
    index = 0
    while index < len(tokens):
        token = tokens[index].lstrip("\n")
        index += 1
        if not token.startswith(":"):
            continue
        meta = token[1:].split(" ")
        blobs.update(blob for blob in meta[2:4] if blob != ZERO)
        if meta[4][:1] in ("R", "C"):
            index += 1
        files.append(tokens[index])
        index += 1
    return tuple(files), blobs


def _parse(record: str) -> tuple[list[str], list[str]]:
    head = record.split("\x1f", len(FIELDS))
    return head[: len(FIELDS)], (head[len(FIELDS)] if len(head) > len(FIELDS) else "").split("\0")


def _commit(fields: list[str], **stats: object) -> Commit:
    sha, parents, an, ae, at, cn, ce, message = fields
    return Commit(sha, tuple(parents.split()), an, ae, at, cn, ce, message.rstrip("\n"), **stats)  # type: ignore[arg-type]


def log_args(revs: list[str], since: str | None, diff: str) -> list[str]:
    args = ["log", "-z", f"--format={FORMAT}", diff, "--no-abbrev", "--no-color", "--no-ext-diff"]
    if since:
        args.append(f"--since={since}")
    return [*args, *revs, "--"]


def _missing_blobs(path: Path, revs: list[str]) -> set[str]:
    out = git(path, "rev-list", "--objects", "--missing=print", *revs)
    return {line[1:] for line in out.splitlines() if line.startswith("?")}


def iter_commits(
    path: Path | str,
    revs: list[str] | None = None,
    since: str | None = None,
    skipped: Skipped | None = None,
) -> Iterator[Commit]:
    """Commits newest first (``git log`` order), with files and line counts where readable."""
    info = repo_info(path)
    revs = revs or ["HEAD"]
    report = skipped if skipped is not None else Skipped()
    if not info.partial:
        for record in _stream(info.root, log_args(revs, since, "--numstat")):
            fields, tokens = _parse(record)
            if fields[0] in info.shallow:
                report.shallow.append(fields[0])
                yield _commit(fields)
                continue
            files, added, deleted = _numstat(tokens)
            yield _commit(fields, files=files, lines_added=added, lines_deleted=deleted)
        return
    missing = _missing_blobs(info.root, revs)
    readable: list[str] = []
    raw: list[tuple[list[str], tuple[str, ...] | None]] = []
    for record in _stream(info.root, log_args(revs, since, "--raw")):
        fields, tokens = _parse(record)
        files, blobs = _raw(tokens)
        if fields[0] in info.shallow:
            report.shallow.append(fields[0])
            raw.append((fields, None))
        elif blobs & missing:
            report.missing_blobs.append(fields[0])
            raw.append((fields, files))
        else:
            readable.append(fields[0])
            raw.append((fields, files))
    counts = _counts(info.root, readable)
    for fields, files in raw:
        added, deleted = counts.get(fields[0], (None, None))
        yield _commit(fields, files=files, lines_added=added, lines_deleted=deleted)


def _counts(root: Path, shas: list[str]) -> dict[str, tuple[int, int]]:
    """Line counts for commits whose blobs are all local: one ``git log --no-walk --stdin``."""
    if not shas:
        return {}
    args = ["log", "-z", "--no-walk=unsorted", "--stdin", "--format=%x1e%H%x1f", "--numstat"]
    process = subprocess.run(
        ["git", "-C", str(root), *args], input="\n".join(shas) + "\n", capture_output=True,
        text=True, env=GIT_ENV,
    )  # fmt: skip
    if process.returncode != 0:
        raise GitError(f"git log --numstat failed in {root}: {process.stderr.strip()}")
    counts: dict[str, tuple[int, int]] = {}
    for record in process.stdout.split("\x1e"):
        if record:
            sha, _, rest = record.partition("\x1f")
            _, added, deleted = _numstat(rest.split("\0"))
            counts[sha] = (added, deleted)
    return counts
