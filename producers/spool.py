"""A local durable spool for events the broker could not take right now.

Layout of the spool directory (``PROVLEDGER_SPOOL_DIR``, default
``$XDG_DATA_HOME/provledger/spool``):

- ``events.jsonl``: where new events are appended, one JSON object a line, fsync'd;
- ``draining-<ns>.jsonl``: a batch taken by a drain, delivered in name order, and its
  ``.done`` file (how many of its lines are delivered, rewritten after each batch);
- ``append.lock`` / ``drain.lock``: ``fcntl`` locks, so two CI jobs on one runner can append
  at once and only one process drains.

Agent commands may hold secrets: the directory is 0700 and every file in it 0600 (an
existing spool of an older version is tightened on first use).

A crash mid-append leaves a torn last line: the next append terminates it first, and a reader
skips any line that is not a whole record, so one torn line never poisons the rest. A crash
mid-drain re-sends at most one batch, which the ledger deduplicates by (source, id).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
APPEND_FILE = "events.jsonl"
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path) -> None:
    """Create ``path`` (0700), or tighten it to 0700 if it exists and is ours."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    if path.stat().st_mode & 0o077:
        try:
            os.chmod(path, PRIVATE_DIR)
        except PermissionError:  # a shared spool someone else set up: theirs to secure
            log.warning("spool directory %s is open to others and not ours to change", path)


def _open_private(path: Path, mode: str) -> Any:
    """``open(path, mode)`` for ``a``/``ab``/``w``, creating the file 0600 (and tightening an
    older file that is ours)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    fd = os.open(path, flags, PRIVATE_FILE)
    with suppress(PermissionError):
        os.fchmod(fd, PRIVATE_FILE)
    return os.fdopen(fd, mode)


@dataclass(frozen=True)
class SpooledEvent:
    """One spooled CloudEvent (its JSON form) and the wire format it was meant for."""

    event: dict[str, Any]
    fmt: str

    @property
    def key(self) -> tuple[str, str]:
        return (str(self.event.get("source")), str(self.event.get("id")))


@dataclass(frozen=True)
class DrainResult:
    delivered: int
    remaining: int
    skipped_torn: int
    busy: bool = False
    """Another process was draining and ``wait_s`` ran out: nothing was tried."""


Deliver = Callable[[list[SpooledEvent]], int]
"""Delivers a batch in order; returns how many of its leading events the broker has."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @contextmanager
    def _lock(self, name: str, wait_s: float | None = None) -> Iterator[bool]:
        """Holds the lock (yields True), or yields False when ``wait_s`` runs out first."""
        private_dir(self.directory)
        with _open_private(self.directory / name, "a") as handle:
            if not _acquire(handle, wait_s):
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def append(self, events: list[SpooledEvent]) -> None:
        """Append and fsync; returns only once the events are on disk."""
        if not events:
            return
        lines = "".join(
            json.dumps({"fmt": item.fmt, "event": item.event}, separators=(",", ":")) + "\n"
            for item in events
        )
        with self._lock("append.lock"):
            path = self.directory / APPEND_FILE
            with _open_private(path, "ab") as handle:
                # A crash mid-write may have left a line without its newline: end it first.
                if handle.tell() > 0 and not _ends_with_newline(path):
                    handle.write(b"\n")
                handle.write(lines.encode())
                handle.flush()
                os.fsync(handle.fileno())
            _fsync_dir(self.directory)

    def pending(self) -> int:
        """Events waiting to be delivered (whole records only)."""
        total = 0
        for path in self._batches(include_append=True):
            done = _read_done(path)
            total += max(0, sum(1 for _ in read_records(path)[0]) - done)
        return total

    def drain(
        self, deliver: Deliver, batch_size: int = 500, wait_s: float | None = None
    ) -> DrainResult:
        """Deliver every spooled event in order, each once; stops at the first failure.

        One process drains at a time; with ``wait_s`` a caller gives up waiting for another
        drain after that long (``busy`` in the result) instead of queueing behind it.
        """
        delivered = torn = 0
        with self._lock("drain.lock", wait_s) as held:
            if not held:
                return DrainResult(0, self.pending(), 0, busy=True)
            self._take_append_file()
            for path in self._batches(include_append=False):
                records, skipped = read_records(path)
                torn += skipped
                done = _read_done(path)
                while done < len(records):
                    batch = records[done : done + batch_size]
                    sent = deliver(batch)
                    done += sent
                    delivered += sent
                    _write_done(path, done)
                    if sent < len(batch):
                        return DrainResult(delivered, self.pending(), torn)
                path.unlink()
                path.with_suffix(".done").unlink(missing_ok=True)
        return DrainResult(delivered, self.pending(), torn)

    def _take_append_file(self) -> None:
        """Move the append file aside so appends can go on while this drain runs."""
        with self._lock("append.lock"):
            source = self.directory / APPEND_FILE
            if source.exists() and source.stat().st_size > 0:
                source.rename(self.directory / f"draining-{time.time_ns():020d}.jsonl")
                _fsync_dir(self.directory)

    def _batches(self, include_append: bool) -> list[Path]:
        if not self.directory.is_dir():
            return []
        batches = sorted(self.directory.glob("draining-*.jsonl"))
        append = self.directory / APPEND_FILE
        if include_append and append.exists():
            batches.append(append)
        return batches


def _acquire(handle: Any, wait_s: float | None) -> bool:
    if wait_s is None:
        fcntl.flock(handle, fcntl.LOCK_EX)
        return True
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def read_records(path: Path) -> tuple[list[SpooledEvent], int]:
    """Whole records in file order, and how many torn or unreadable lines were skipped."""
    records: list[SpooledEvent] = []
    skipped = 0
    with open(path, "rb") as handle:
        for raw in handle:
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
                records.append(SpooledEvent(obj["event"], obj["fmt"]))
            except (ValueError, KeyError, TypeError):
                skipped += 1
                log.warning("spool %s: skipped a torn or unreadable line", path.name)
    return records, skipped


def _read_done(path: Path) -> int:
    try:
        return int(path.with_suffix(".done").read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def _write_done(path: Path, done: int) -> None:
    marker = path.with_suffix(".done")
    temp = marker.with_suffix(".tmp")
    with _open_private(temp, "w") as handle:
        handle.write(str(done))
        handle.flush()
        os.fsync(handle.fileno())
    temp.replace(marker)
