"""Running git: one environment (no lazy fetches, C locale), failures as :class:`GitError`,
and long-running git processes streamed through threads so neither side waits on the other."""

from __future__ import annotations

import os
import queue
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from provenance_ledger.schemas.errors import LocalFailure

# Newer gits honour this; older ones are kept from lazy fetches by never asking for a
# missing object (the callers find missing objects first with ``rev-list --missing=print``).
GIT_ENV = {**os.environ, "GIT_NO_LAZY_FETCH": "1", "LC_ALL": "C"}
HEX = "0123456789abcdef"


class GitError(RuntimeError, LocalFailure):
    pass


def is_sha(text: str) -> bool:
    """A full object id (SHA-1 or SHA-256), lower-case hex as git prints it."""
    return len(text) in (40, 64) and not text.strip(HEX)


def git(path: Path | str, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(path), *args], capture_output=True, text=True, env=GIT_ENV
    )
    if result.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed in {path}: {result.stderr.strip()}")
    return result.stdout


def stream(path: Path | str, args: list[str], stdin: bytes | None = None) -> Iterator[bytes]:
    """Chunks of a git command's stdout; :class:`GitError` after the last one if it failed.

    A thread feeds ``stdin`` and another drains stdout, so git never blocks on a full pipe and,
    on two cores, git's work and the caller's parsing overlap.
    """
    # stderr goes to a file, not a pipe: git never blocks on its own warnings.
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            ["git", "-C", str(path), *args],
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=GIT_ENV,
        )
        chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=256)

        def feed() -> None:
            assert process.stdin is not None
            try:
                process.stdin.write(stdin or b"")
                process.stdin.close()
            except (BrokenPipeError, OSError):
                pass  # git stopped reading (it failed): its exit status says why

        def pump() -> None:
            assert process.stdout is not None
            # read(), not read1(): git may flush every record (diff-tree --stdin does), and a
            # hand-over per tiny chunk costs more than the parsing.
            while chunk := process.stdout.read(1 << 16):
                chunks.put(chunk)
            chunks.put(None)

        if stdin is not None:
            threading.Thread(target=feed, daemon=True).start()
        threading.Thread(target=pump, daemon=True).start()
        try:
            while (chunk := chunks.get()) is not None:
                yield chunk
            if process.wait() != 0:
                stderr.seek(0)
                message = stderr.read().decode(errors="replace").strip()
                raise GitError(f"git {' '.join(args[:3])}… failed in {path}: {message}")
        finally:
            if process.poll() is None:  # the caller stopped early
                process.kill()
                process.wait()


def nul_tokens(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The NUL-terminated fields of ``-z`` output, whatever the chunk boundaries."""
    tail = b""
    for chunk in chunks:
        parts = (tail + chunk).split(b"\0")
        tail = parts.pop()
        yield from parts
    if tail:
        yield tail
