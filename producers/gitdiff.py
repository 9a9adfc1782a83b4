"""Files and line counts of commits from ``git diff-tree --stdin -z``, read commit by commit.

The commits to diff go to git on stdin and git names each one (``--always``) before its
diff, in the same order: every name is checked against the commit asked for, and paths are
only ever read where a record says a path follows, so no path can pass for structure.

Git stops at the first object it cannot read (a tree or blob missing from a partial clone
whose promisor is out of reach). Then the commits it finished are kept and git is started
again after them; a commit that fails on its own is reported unreadable (``None``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from provenance_ledger.producers.gitproc import GitError, nul_tokens, stream

ZERO = "0" * 40
BASE = ["diff-tree", "--stdin", "-z", "-r", "--root", "--always", "--no-color", "--no-ext-diff"]
NUMSTAT = [*BASE, "--numstat", "-M"]
# Listing files needs trees only: no rename detection, which would read blobs.
RAW = [*BASE, "--raw", "--no-renames", "--no-abbrev"]


@dataclass(frozen=True)
class Diff:
    files: tuple[str, ...]
    added: int | None = None
    deleted: int | None = None
    blobs: frozenset[str] = frozenset()


def _path(token: bytes) -> str:
    return token.decode("utf-8", "replace")


def _build(records: list[tuple[bytes, list[bytes]]]) -> Diff:
    files: list[str] = []
    blobs: set[str] = set()
    added = deleted = 0
    numstat = False
    for record, paths in records:
        if record.startswith(b":"):  # :mode mode blob blob status
            meta = record[1:].decode("ascii", "replace").split(" ")
            blobs.update(blob for blob in meta[2:4] if blob.strip("0"))
            files.append(_path(paths[-1]))
            continue
        numstat = True
        a, d, name = record.split(b"\t", 2)
        files.append(_path(paths[-1] if paths else name))
        added += int(a) if a.isdigit() else 0  # "-" for binary files
        deleted += int(d) if d.isdigit() else 0
    if numstat:
        return Diff(tuple(files), added, deleted)
    return Diff(tuple(files), blobs=frozenset(blobs))


def _paths_after(record: bytes) -> int:
    """How many path fields follow a record: two for renames and copies, else one or none."""
    if record.startswith(b":"):
        return 2 if record.rsplit(b" ", 1)[-1][:1] in (b"R", b"C") else 1
    return 2 if record.endswith(b"\t") else 0


def _run(root: Path, shas: list[str], args: list[str]) -> Iterator[tuple[str, Diff]]:
    """Each commit once its diff is complete (the next one started, or git ended well)."""
    expected = iter(shas)
    current: str | None = None
    records: list[tuple[bytes, list[bytes]]] = []
    wanted = 0
    for token in nul_tokens(stream(root, args, "".join(s + "\n" for s in shas).encode())):
        if wanted:
            records[-1][1].append(token)
            wanted -= 1
        elif current is not None and (b"\t" in token or token.startswith(b":")):
            records.append((token, []))
            wanted = _paths_after(token)
        else:
            name = token.decode("ascii", "replace")
            if name != next(expected, None):
                raise GitError(f"git diff-tree named {name[:64]!r} out of turn")
            if current is not None:
                yield current, _build(records)
            current, records = name, []
    if current is not None:
        yield current, _build(records)


def diffs(root: Path, shas: list[str], args: list[str]) -> Iterator[tuple[str, Diff | None]]:
    """(sha, diff) for each of ``shas`` in order; ``None`` where git cannot diff it."""
    start = 0
    while start < len(shas):
        done = start
        failed = False
        try:
            for sha, diff in _run(root, shas[start:], args):
                yield sha, diff
                done += 1
        except GitError:
            failed = True
        if done > start:
            start = done  # go on after the last commit git finished
            continue
        # Nothing came through: is it the first commit that fails, or one after it?
        yield shas[start], _alone(root, shas[start], args) if failed else None
        start += 1


def _alone(root: Path, sha: str, args: list[str]) -> Diff | None:
    try:
        return next((diff for _, diff in _run(root, [sha], args)), None)
    except GitError:
        return None
