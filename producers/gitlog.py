"""Read commits without trusting a byte of their messages, and without objects we lack.

``git rev-list`` walks the history (ids only), ``git cat-file --batch`` gives each commit
object with its length (:mod:`producers.gitraw` parses it), ``git diff-tree --stdin`` gives
files and lines (:mod:`producers.gitdiff`). Every id is checked: rev-list prints object
ids only, cat-file must say "commit" for the id asked, diff-tree must name the commit asked.

Attribution needs commit objects only. Shallow clones: the boundary commits have no parent
here, so their files and lines are unknown. Partial clones (``--filter=blob:none``,
``--filter=tree:0``): objects the clone lacks are found first (``rev-list --missing=print``
never fetches); files are read where the trees are local, lines where the blobs are too,
and the rest is left unknown and counted, never fetched from the promisor.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from provenance_ledger.producers.gitdiff import NUMSTAT, RAW, Diff, diffs
from provenance_ledger.producers.gitproc import GIT_ENV, GitError, git, is_sha
from provenance_ledger.producers.gitraw import CommitParseError, RawCommit, parse_commit

__all__ = ["Commit", "GitError", "RepoInfo", "Skipped", "git", "iter_commits", "repo_info"]

PARTIAL_KEYS = r"^(remote\..*\.promisor|extensions\.partialclone)$"
BATCH = 256  # ids written to cat-file at once: well under a pipe buffer, so no deadlock


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
    missing_trees: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    """Commits not emitted: (sha, why), e.g. a malformed commit object."""


@dataclass(frozen=True)
class RepoInfo:
    root: Path
    git_dir: Path
    shallow: frozenset[str]
    partial: bool


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


def rev_list(root: Path, revs: list[str], since: str | None) -> list[tuple[str, tuple[str, ...]]]:
    """(commit, parents) in ``git log`` order; parents as git sees them (grafts, shallow)."""
    args = ["rev-list", "--parents", *([f"--since={since}"] if since else [])]
    listed = []
    for line in git(root, *args, *revs, "--").splitlines():
        ids = line.split()
        if not ids or not all(is_sha(sha) for sha in ids):
            raise GitError(f"git rev-list printed {line[:100]!r}, not object ids, in {root}")
        listed.append((ids[0], tuple(ids[1:])))
    return listed


def read_commits(root: Path, shas: list[str]) -> Iterator[tuple[str, RawCommit | str]]:
    """(sha, commit) per id in order, or (sha, why it cannot be read)."""
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            ["git", "-C", str(root), "cat-file", "--batch"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=GIT_ENV,
        )  # fmt: skip
        assert process.stdin is not None and process.stdout is not None
        try:
            for start in range(0, len(shas), BATCH):
                chunk = shas[start : start + BATCH]
                try:
                    process.stdin.write("".join(sha + "\n" for sha in chunk).encode())
                    process.stdin.flush()
                except OSError as exc:
                    raise GitError(f"git cat-file stopped in {root}: {exc}") from exc
                for sha in chunk:
                    yield sha, _answer(process.stdout, sha)
        finally:
            process.kill()
            process.wait()


def _answer(out: IO[bytes], sha: str) -> RawCommit | str:
    header = [field.decode("ascii", "replace") for field in out.readline().split()]
    if header == [sha, "missing"]:
        return "the commit object is missing"
    if len(header) != 3 or header[0] != sha or not header[2].isdigit():
        raise GitError(f"git cat-file answered {' '.join(header)[:200]!r} for {sha}")
    size = int(header[2])
    body = out.read(size + 1)
    if len(body) != size + 1:
        raise GitError(f"git cat-file stopped in the middle of {sha}")
    body = body[:-1]
    if header[1] != "commit":
        return f"a {header[1]}, not a commit"
    try:
        return parse_commit(sha, body)
    except CommitParseError as exc:
        return f"malformed commit object: {exc}"


def _commit(
    raw: RawCommit, parents: tuple[str, ...], diff: Diff | None, lines: Diff | None = None
) -> Commit:
    counts = lines if lines is not None else diff
    return Commit(
        raw.sha, parents, raw.author_name, raw.author_email, raw.author_time,
        raw.committer_name, raw.committer_email, raw.message,
        files=diff.files if diff is not None else None,
        lines_added=counts.added if counts is not None else None,
        lines_deleted=counts.deleted if counts is not None else None,
    )  # fmt: skip


def iter_commits(
    path: Path | str,
    revs: list[str] | None = None,
    since: str | None = None,
    skipped: Skipped | None = None,
) -> Iterator[Commit]:
    """Commits newest first (``git log`` order), with files and line counts where readable."""
    info = repo_info(path)
    report = skipped if skipped is not None else Skipped()
    listed = rev_list(info.root, revs or ["HEAD"], since)
    objects = read_commits(info.root, [sha for sha, _ in listed])
    if info.partial:
        pairs = list(zip(listed, objects, strict=True))
        yield from _partial(info, pairs, revs or ["HEAD"], since, report)
        return
    # One diff-tree for the whole history, read in step with the commit objects: git diffs
    # ahead in its own process while this one parses.
    found = diffs(info.root, [sha for sha, parents in listed if _diffable(sha, parents, info)],
                  NUMSTAT)  # fmt: skip
    for (sha, parents), (_, raw) in zip(listed, objects, strict=True):
        diff: Diff | None = None
        if sha in info.shallow:
            report.shallow.append(sha)
        elif len(parents) > 1:
            diff = Diff(())  # merges are not diffed, as in git log
        else:
            diff = _next_diff(found, sha)
            if diff is None:
                report.missing_trees.append(sha)
        if isinstance(raw, str):
            report.unreadable.append((sha, raw))
        else:
            yield _commit(raw, parents, diff)


def _diffable(sha: str, parents: tuple[str, ...], info: RepoInfo) -> bool:
    return len(parents) <= 1 and sha not in info.shallow


def _next_diff(found: Iterator[tuple[str, Diff | None]], sha: str) -> Diff | None:
    got, diff = next(found, (None, None))
    if got != sha:
        raise GitError(f"diffs out of step: expected {sha}, got {got}")
    return diff


def missing_objects(root: Path, revs: list[str], since: str | None) -> set[str]:
    args = ["rev-list", "--objects", "--missing=print", *([f"--since={since}"] if since else [])]
    out = git(root, *args, *revs, "--")
    return {line[1:] for line in out.splitlines() if line.startswith("?")}


def _partial(
    info: RepoInfo,
    listed: list[tuple[tuple[str, tuple[str, ...]], tuple[str, RawCommit | str]]],
    revs: list[str],
    since: str | None,
    report: Skipped,
) -> Iterator[Commit]:
    """Files where the trees are local, lines where the blobs are too; nothing is fetched."""
    missing = missing_objects(info.root, revs, since)
    trees = {sha: raw.tree for (sha, _), (_, raw) in listed if not isinstance(raw, str)}
    wanted = [
        sha
        for sha, parents in (item for item, _ in listed)
        if _diffable(sha, parents, info)
        and trees.get(sha) not in missing
        and not any(trees.get(parent) in missing for parent in parents)
    ]
    files = dict(diffs(info.root, wanted, RAW))
    local = [sha for sha, diff in files.items() if diff is not None and not diff.blobs & missing]
    lines = dict(diffs(info.root, local, NUMSTAT))
    for (sha, parents), (_, raw) in listed:
        diff = files.get(sha)
        if sha in info.shallow:
            report.shallow.append(sha)
        elif len(parents) > 1:
            diff = Diff(())
        elif diff is None:
            report.missing_trees.append(sha)
        elif lines.get(sha) is None:
            report.missing_blobs.append(sha)
        if isinstance(raw, str):
            report.unreadable.append((sha, raw))
        else:
            yield _commit(raw, parents, diff, lines.get(sha) or Diff(diff.files if diff else ()))
