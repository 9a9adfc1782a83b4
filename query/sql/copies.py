"""Read-only copies of the ledger for the SQL worker processes.

DuckDB lets one process open a file read-write *or* many open it read-only, never both, and
the server is the writer: a worker cannot read the live file. So the server keeps a copy
(ledger/snapshot.py: one read-only transaction of the live instance, streamed to a new file),
made by a background thread, never by the consumer's.

Freshness: a query arriving when the ledger has changed since the copy was taken asks for a
new copy and waits for it up to ``wait_s`` (PROVLEDGER_SQL_FRESHNESS_S); past that it is
answered from the older copy, and the answer's ``as_of`` says what it holds. Copies are only
made while SQL is asked, and one at a time, so an idle API costs ingestion nothing.

Each copy is a new file (``copy-N.duckdb``, written as ``.partial`` and renamed when complete),
so a worker never reads a file being written; the oldest is removed once ``KEPT`` newer ones
are published (a request handed an older name in the meantime still finds it, and a worker
still reading a removed one keeps its open inode).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from provenance_ledger.ledger import snapshot
from provenance_ledger.ledger.rows import single_row
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.schemas.errors import Unreachable

log = logging.getLogger(__name__)
KEPT = 3
# With no copy at all there is nothing older to answer from: wait for the first one longer.
FIRST_COPY_WAIT_S = 60.0


class CopyUnavailable(RuntimeError, Unreachable):
    """No copy of the ledger could be made in time."""


@dataclass(frozen=True)
class LedgerCopy:
    path: Path
    taken_at: datetime
    events: int
    dead_letters: int
    seconds_to_make: float
    # The policy_definitions the views join (query/policy/record.py): a copy is stale when
    # the policy changes too, not only when events arrive.
    definitions: str

    def as_of(self) -> dict[str, object]:
        return {
            "events": self.events,
            "dead_letters": self.dead_letters,
            "taken_at": self.taken_at.isoformat(),
        }


def copies_folder(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".sql-copies")


class LedgerCopies:
    def __init__(self, ledger: Ledger, folder: Path, wait_s: float) -> None:
        self._ledger = ledger
        self._folder = folder
        self._wait_s = wait_s
        # Only one writer opens a ledger file (DuckDB's lock): what is here is ours to clear.
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, mode=0o700)
        self._changed = threading.Condition()
        self._asked = 0  # requests that asked for a copy newer than the current one
        self._served = 0  # the last request number a finished copy started after
        self._copy: LedgerCopy | None = None
        self._published: deque[LedgerCopy] = deque()
        self._generation = 0
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name="sql-copies", daemon=True)
        self._thread.start()

    def current(self) -> LedgerCopy:
        """A copy holding what the ledger held when this was called, or the freshest one
        made within ``wait_s``; :class:`CopyUnavailable` if there is none."""
        with self._changed:
            copy = self._copy
        if copy is not None and self._ledger_state() == (
            copy.events,
            copy.dead_letters,
            copy.definitions,
        ):
            return copy
        with self._changed:
            self._asked += 1
            mine = self._asked
            self._changed.notify_all()
            wait_s = (
                self._wait_s if self._copy is not None else max(self._wait_s, FIRST_COPY_WAIT_S)
            )
            self._changed.wait_for(lambda: self._served >= mine or self._closing, wait_s)
            if self._copy is None:
                raise CopyUnavailable(
                    "the read-only copy of the ledger that SQL runs on is not ready yet; "
                    "retry in a moment"
                )
            return self._copy

    def close(self) -> None:
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join(timeout=60)
        shutil.rmtree(self._folder, ignore_errors=True)

    def _ledger_state(self) -> tuple[int, int, str]:
        cursor = self._ledger.cursor()
        try:
            events, dead, definitions = single_row(
                cursor.execute(
                    "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM dead_letters), "
                    "(SELECT list(p) FROM policy_definitions p)::VARCHAR"
                )
            )
        finally:
            cursor.close()
        return events, dead, definitions

    def _loop(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._asked > self._served or self._closing)
                if self._closing:
                    return
                asked = self._asked
            try:
                made = self._make()
            except Exception:  # keep the last good copy; waiters time out to it
                log.exception("could not make the SQL copy of the ledger")
                made = None
            with self._changed:
                if made is not None:
                    self._copy = made
                    self._published.append(made)
                self._served = asked
                self._changed.notify_all()
            while len(self._published) > KEPT:
                self._published.popleft().path.unlink(missing_ok=True)

    def _make(self) -> LedgerCopy:
        self._generation += 1
        dest = self._folder / f"copy-{self._generation}.duckdb"
        started = time.monotonic()
        # Read before the copy: if they change in between, the next query copies again.
        definitions = self._ledger_state()[2]
        cursor = self._ledger.cursor()
        try:
            info = snapshot.write_snapshot(cursor, dest)
        finally:
            cursor.close()
        made = LedgerCopy(
            dest,
            info.taken_at.astimezone(UTC),
            info.tables.get("events", 0),
            info.tables.get("dead_letters", 0),
            time.monotonic() - started,
            definitions,
        )
        log.info("SQL copy of the ledger: %d events in %.2f s", made.events, made.seconds_to_make)
        return made
