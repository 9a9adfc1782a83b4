"""The DuckDB side of the ledger: one batch of records becomes one transaction.

Rows, the log's leaves and nodes (ledger/recordlog.py) and the Kafka offsets they came from
are written together (ARCHITECTURE: offsets are data), so a crash at any instant loses nothing and
projects nothing twice. The writer's steps are in ledger/writer.py; the schema and its
migration in ledger/migrate.py.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import duckdb
import numpy as np

from provenance_ledger.ledger import identity, logstore, memorylimit, recordlog
from provenance_ledger.ledger import migrate as migration
from provenance_ledger.ledger.batch import BatchResult, Incoming, Rejected
from provenance_ledger.ledger.keyindex import KeyIndex
from provenance_ledger.ledger.prepare import Prepared
from provenance_ledger.ledger.prepared_writer import write_prepared_rows
from provenance_ledger.ledger.rows import single_row, single_value
from provenance_ledger.ledger.settings import MEMORY_SIZE
from provenance_ledger.ledger.writer import write_rows
from provenance_ledger.schemas.codec import KafkaRecord
from provenance_ledger.schemas.commandline import runnable
from provenance_ledger.schemas.errors import LocalFailure

log = logging.getLogger(__name__)
CHECKPOINT_THRESHOLD = "256MB"
# Blocks of 64 KB, not DuckDB's 256 KB, in the files a ledger creates (a file keeps the size it
# was made with). A cold suspects call reads the facts of 50-150 commits scattered over
# commit_facts through its index, loading a block for each index node and each column of
# each row: smaller blocks load less (docs/benchmarks.md, "Smaller blocks").
BLOCK_SIZE = 65536


class LedgerError(RuntimeError, LocalFailure):
    """The ledger could not write; nothing of the batch (offsets included) was committed."""


def connect(
    path: str, read_only: bool = False, memory_limit: str | None = None
) -> duckdb.DuckDBPyConnection:
    """A connection with the ledger's settings. ``memory_limit``: DuckDB's, such as
    ``"512MB"``; None keeps DuckDB's default."""
    if memory_limit is not None and not MEMORY_SIZE.match(memory_limit):
        raise ValueError(f"not a memory size: {memory_limit!r} (such as 512MB or 2GB)")
    if not read_only and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(path, read_only=read_only, config={"default_block_size": str(BLOCK_SIZE)})
    try:
        # One instant, one spelling: every session reads times in UTC. Set after connecting:
        # DuckDB 2.0.1 refuses TimeZone in connect()'s config.
        conn.execute("SET GLOBAL TimeZone = 'UTC'")
        if memory_limit is not None:
            conn.execute(f"SET memory_limit = '{memory_limit}'")
        if not read_only:
            # Each checkpoint rewrites the partly filled last row group of every table and the
            # indexes. At the 16 MB default commits (checkpoints included) cost ~40 µs per event
            # in the ingest ceiling; 22 at 64 MB. Once checkpoints ran again (7148e56), 64 MB
            # cost 209 µs per JSON event end to end against 179 at 256 MB and 177 at 1 GB (one
            # run each, 60k events, bench/bench_ingest.py --format json); 256 MB adds ~75 MB
            # of peak RSS on a 1M-event ledger (bench/bench_memory.py: 861 MB against 786).
            conn.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
    except BaseException:
        conn.close()
        raise
    return conn


def _migrate_apart(path: str, memory_limit: str | None) -> None:
    """Migrate the file in a DuckDB of its own, closed before the ledger opens it: a
    migration may read whole columns (an older file's incident regions from its events'
    data), and DuckDB keeps what it read in its buffer pool, which a long-running serve would
    hold for good (after migrating a 10M-event file: 2.0 GB of RSS in place, 0.16 GB apart)."""
    conn = connect(path, False, memory_limit)
    try:
        migration.migrate(conn)
    finally:
        conn.close()


class ReadPosition(NamedTuple):
    """Where a reader of a ledger file stands: the file, the ledger it holds and its newest
    committed event seq (-1 when empty). What the suspects call keeps in memory is kept per
    file and ledger and caught up to ``newest`` (query/suspects/timelines.py)."""

    path: str | None
    ledger_id: str | None
    newest: int


class Ledger:
    """One DuckDB file. The owner writes through :meth:`write_batch`; readers take cursors.

    Open one with :meth:`open`; the constructor takes a connection to a migrated file.
    """

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        migrate: bool = False,
        read_only: bool = False,
        memory_limit: str | None = None,
    ) -> Ledger:
        """The ledger in the file at ``path``. With ``migrate``, the file's schema is made or
        brought up to date first; without, a file that needs it is refused (NotMigrated)."""
        if migrate and read_only:
            raise ValueError("a read-only ledger cannot be migrated")
        in_memory = str(path) == ":memory:"
        if migrate and not in_memory:
            _migrate_apart(str(path), memory_limit)
        conn = connect(str(path), read_only, memory_limit)
        try:
            if migrate and in_memory:
                migration.migrate(conn)
            if memory_limit is not None and not read_only:
                with conn.cursor() as cur:
                    memorylimit.refuse_below_need(cur, str(path), memory_limit)
            return cls(conn, str(path), read_only=read_only)
        except BaseException:
            conn.close()
            raise

    def __init__(self, conn: duckdb.DuckDBPyConnection, path: str, *, read_only: bool) -> None:
        migration.require_current(conn, path)
        self.path = path
        self._conn = conn
        self._write_lock = threading.Lock()
        # Which ledger this file is (ledger/identity.py); readers do not need it.
        self.ledger_id = None if read_only else identity.stored_id(conn)
        self._file_ledger_id = identity.stored_id(conn) if read_only else None
        cur = self.cursor()
        # Loaded on the first write: readers never need them.
        self._keys: KeyIndex | None = None
        self._log: recordlog.RecordLog | None = None
        head = logstore.latest_head(cur)
        self._head = head.size, head.root
        self._next_seq = single_value(cur.execute("SELECT coalesce(max(seq), -1) + 1 FROM events"))
        # (events, dead letters): counted once, then moved by each batch this Ledger commits.
        self._stored: tuple[int, int] | None = None
        if not read_only:
            self._check_head(head)

    def _check_head(self, head: logstore.Head) -> None:
        if head.size == 0 and self._next_seq > 0:
            raise LedgerError(
                f"{self.path} holds {self._next_seq} events but no log of the records they "
                "came from: it was written before the log was defined by the topic. Migrate "
                f"it with `{runnable('rebuild')}`, which replays the topic into a new file "
                "(the topic must still hold every record)."
            )
        if head.events != self._next_seq:
            raise LedgerError(
                f"{self.path}: the log's head counts {head.events} events but the events "
                f"table ends at seq {self._next_seq - 1}; the file was changed outside the "
                f"ledger. Run `{runnable('verify')}` to find the row, then "
                f"`{runnable('rebuild')}`."
            )

    def close(self) -> None:
        self._conn.close()

    def adopt_identity_of(self, path: str | Path) -> None:
        """Take the ledger id of the file at ``path`` (a rebuild replaces that file), so the
        rebuilt ledger keeps its consumer group and its claim on it."""
        other = identity.read(str(path))
        if other is not None:
            identity.adopt(self._conn, other)
            self.ledger_id = other[0]

    def read_position(self) -> ReadPosition:
        """This file's ``ReadPosition``, known without a query: this process is the file's
        only writer (DuckDB locks it) and ``_next_seq`` moves only once a batch committed."""
        return ReadPosition(self.path, self.ledger_id or self._file_ledger_id, self._next_seq - 1)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for one thread: the shared connection is not thread-safe."""
        return self._conn.cursor()

    def head(self) -> tuple[int, bytes]:
        """The committed log's size (records) and root (ledger/recordlog.py)."""
        return self._head

    def committed_offsets(self, topic: str) -> dict[int, int]:
        rows = (
            self.cursor()
            .execute(
                "SELECT kafka_partition, next_offset FROM kafka_offsets WHERE topic = ?", [topic]
            )
            .fetchall()
        )
        return dict(rows)

    def counts(self) -> tuple[int, int]:
        """(events, dead letters) stored. Counted in DuckDB on the first call only: rows get
        in through :meth:`write_batch` alone, which moves the count as it commits, and a file
        opened here is written by no other process (DuckDB's lock). /healthz asks for it on
        every probe (~1.3 ms of CPU a count at 1M events)."""
        stored = self._stored
        if stored is None:
            with self._write_lock:  # no batch commits between the count and keeping it
                stored = self._stored = self._counted()
        return stored

    def _counted(self) -> tuple[int, int]:
        events, dead = single_row(
            self.cursor().execute(
                "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM dead_letters)"
            )
        )
        return events, dead

    def write_batch(
        self,
        incoming: list[Incoming],
        rejected: list[Rejected],
        offsets: dict[tuple[str, int], int],
    ) -> BatchResult:
        """Write one batch in one transaction. If it fails, it is retried checking event by
        event: an event whose own work fails (a bug, or a poison pill the decoder let through)
        becomes a dead letter (``internal_error``; ``projection_failed`` when only its
        projection rows fail) and its neighbours are written. A failure of the transaction
        itself (disk full) raises LedgerError with nothing committed."""
        with self._write_lock:
            try:
                return self._transaction(incoming, rejected, offsets, careful=False)
            except Exception as exc:
                log.warning("batch refused (%s); retrying it event by event", exc)
            return self._careful(incoming, rejected, offsets)

    def write_prepared(
        self,
        prepared: Prepared,
        records: list[KafkaRecord],
        offsets: dict[tuple[str, int], int],
        decode: Callable[[], tuple[list[Incoming], list[Rejected]]],
    ) -> BatchResult:
        """:meth:`write_batch` of ``records``, which a worker prepared (ledger/prepare.py).
        If that fails, ``decode`` gives them decoded here and they are written the careful
        way."""
        with self._write_lock:
            try:
                return self._run(
                    lambda cur, log_state, keys: write_prepared_rows(
                        cur, log_state, self._next_seq, keys, prepared, records, offsets
                    )
                )
            except Exception as exc:
                log.warning("prepared batch refused (%s); retrying it event by event", exc)
            incoming, rejected = decode()
            return self._careful(incoming, rejected, offsets)

    def _careful(
        self,
        incoming: list[Incoming],
        rejected: list[Rejected],
        offsets: dict[tuple[str, int], int],
    ) -> BatchResult:
        try:
            return self._transaction(incoming, rejected, offsets, careful=True)
        except Exception as exc:
            hint = memorylimit.out_of_memory_hint(self.cursor(), exc)
            raise _ledger_error(self.path, exc, hint) from exc

    def _transaction(
        self,
        incoming: list[Incoming],
        rejected: list[Rejected],
        offsets: dict[tuple[str, int], int],
        careful: bool,
    ) -> BatchResult:
        return self._run(
            lambda cur, log_state, keys: write_rows(
                cur, log_state, self._next_seq, keys, incoming, rejected, offsets, careful
            )
        )

    def _run(
        self,
        write: Callable[
            [duckdb.DuckDBPyConnection, recordlog.RecordLog, KeyIndex],
            tuple[BatchResult, np.ndarray],
        ],
    ) -> BatchResult:
        """One transaction of ``write``, which gets the cursor, a copy of the log's state to
        grow and the key index; the log's state and the index move only once it commits."""
        cur = self.cursor()
        if self._keys is None:
            self._keys = KeyIndex.load(cur)
        keys = self._keys
        if self._log is None:
            try:
                self._log = logstore.load(cur, logstore.latest_head(cur))
            except logstore.MissingNode as exc:
                raise LedgerError(f"{self.path}: {exc}; run `{runnable('verify')}`") from exc
        cur.begin()
        log_state = self._log.copy()
        try:
            result, new_keys = write(cur, log_state, keys)
            cur.commit()
        except BaseException:
            cur.rollback()
            raise
        self._log = log_state
        self._head = log_state.size, log_state.root()
        new_seqs = np.arange(self._next_seq, self._next_seq + result.accepted, dtype=np.int64)
        self._next_seq += result.accepted
        keys.add(new_keys, new_seqs)
        if self._stored is not None:
            events, dead = self._stored
            self._stored = events + result.accepted, dead + result.dead_letters
        return result


def _ledger_error(path: str, exc: BaseException, hint: str = "") -> LedgerError:
    reason = str(exc)
    if hint:  # the hint replaces DuckDB's own advice (threads, insertion order)
        reason = reason.splitlines()[0]
    if "No space left" in str(exc) or "disk is full" in str(exc).lower():
        hint = " The disk is full: free space, then restart; ingestion resumes from the last batch."
    return LedgerError(
        f"could not write a batch to {path}: {reason}. Nothing of this batch was committed "
        f"(offsets included), so no event is lost.{hint}"
    )
