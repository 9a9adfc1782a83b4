"""The rows a suspects call reads by time (deployments, agent actions, configuration changes
and rollbacks) kept in memory per ledger file and per process, in time order.

On the bench ledger each of the four window queries cost DuckDB 2-3 ms of CPU for a
handful of rows: a day's window still decompresses a whole row group (122,880 rows) of
every column it reads. In memory a window is two binary searches and a vectorised filter
over that day's rows (well under a millisecond).

The tables only grow, in seq order, and every row is written with its event, so a copy is
current up to the ledger's newest event seq, and catching up reads only the rows between
the seq it holds and the newest (zone maps confine that to the newest row group). A call
reads the newest seq anyway (``gather.ledger_now``) and catches up only when it moved.

The first call for a ledger file reads each table whole (~1.5 s per million rows on the
bench box; ``provledger serve`` does it in its start-up warm-up). Calls that arrive while
another thread loads read the ledger with SQL instead of waiting: both give the same rows.
A table over ``KEPT_ROWS_MAX`` rows is not kept (its window is read with SQL).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provenance_ledger.query.suspects.gather import (
    ACTION_COLUMNS,
    CONFIG_COLUMNS,
    DEPLOYMENT_COLUMNS,
    ROLLBACK_COLUMNS,
)
from provenance_ledger.query.suspects.picked import Dictionary, Part
from provenance_ledger.query.suspects.places import Places

log = logging.getLogger(__name__)

# Above this a table's copy would cost more memory than its window query saves: on the
# bench ledger a million deployments take ~90 MB, a million configuration changes ~120 MB.
KEPT_ROWS_MAX = 5_000_000
# Rows caught up are kept apart (and filtered whole) until there are this many, or a
# sixty-fourth of the sorted part, then merged into it on a thread of its own (_Kept).
TAIL_ROWS_MIN = 4096

# Text with few distinct values is dictionary-encoded in memory (a service name is stored
# once, not per row); text with many (repositories, actors, keys on the bench ledger) stays
# plain: decoding a large dictionary back to Python costs more than the memory it saves.
DICTIONARY_SHARE_MAX = 0.01


@dataclass(frozen=True)
class Table:
    """What is kept of one table: the columns a suspects call reads (the time as epoch_us
    under ``time``), plus the environment in lower case as DuckDB's ``lower`` gives it."""

    name: str
    columns: str
    time: str
    environment: str


TABLES = (
    Table("deployments", DEPLOYMENT_COLUMNS, "deployed_at", "environment"),
    Table("agent_actions", ACTION_COLUMNS, "acted_at", "environment"),
    Table("config_changes", CONFIG_COLUMNS, "changed_at", "target_environment"),
    Table("rollbacks", ROLLBACK_COLUMNS, "rolled_back_at", "environment"),
)


def _select(table: Table) -> str:
    # Not ordered here: DuckDB would hold the whole result to sort it (on a dense 1M-event
    # ledger ~100 MB of RSS never given back); Arrow sorts the streamed rows instead.
    return (
        f"SELECT {table.columns}, lower({table.environment}) AS env_lower FROM {table.name} "
        "WHERE event_seq > ? AND event_seq <= ?"
    )


def _in_time_order(rows: pa.Table, time: str) -> pa.Table:
    """The rows by (time, seq): the order of a timeline's sorted part and of its places."""
    return rows.sort_by([(time, "ascending"), ("event_seq", "ascending")])


def _arrow(cur: duckdb.DuckDBPyConnection, sql: str, params: list[int]) -> pa.Table:
    """The rows as Arrow, read on a cursor of their own: the caller's may hold a result not
    fetched to the end, which DuckDB's relation API refuses to run beside (and its DB-API
    ``execute`` would copy the rows once more on the way to Arrow)."""
    reader = cur.cursor()
    try:
        batches = reader.sql(sql, params=params).to_arrow_reader(_BATCH_ROWS)
        return pa.Table.from_batches(list(batches), schema=batches.schema)
    finally:
        reader.close()


# Rows streamed from DuckDB at a time when loading.
_BATCH_ROWS = 65_536


def _compact(rows: pa.Table) -> pa.Table:
    rows = rows.combine_chunks()
    for index, name in enumerate(rows.column_names):
        column = rows.column(name)
        if not pa.types.is_string(column.type) or rows.num_rows == 0:
            continue
        encoded = pc.dictionary_encode(column).combine_chunks()
        if len(encoded.dictionary) <= DICTIONARY_SHARE_MAX * rows.num_rows:
            rows = rows.set_column(index, name, encoded)
    return rows


class Timeline:
    """One table's rows in (time, seq) order: a sorted part and the rows caught up since
    (``tail``, in seq order). Never changed once made: catching up makes a new one, so
    calls on other threads keep reading the one they took."""

    def __init__(self, time: str, rows: pa.Table, tail: pa.Table | None = None) -> None:
        self._time = time
        self._rows = rows
        self._times = rows.column(time).to_numpy()
        self._tail = tail
        self._places: Places | None = None
        self._tail_places: Places | None = None
        self._dictionaries: dict[str, Dictionary] = {}

    def latest_at(
        self, place: tuple[str, str], version: str | None, high: int, seq: int | None, low: int
    ) -> tuple[int, int] | None:
        """(time, seq) of the latest row of ``place`` (service, environment) of ``version``
        (any if None) at or before ``high`` (before ``seq`` at that instant, when given), not
        earlier than ``low``; None if there is none."""
        if self._places is None:
            self._places = Places(self._rows, self._times)
        found = [self._places.latest(place, version, high, seq, low)]
        if self._tail is not None and self._tail.num_rows:
            # Made once per tail (a catch-up makes a new timeline): a call during ingest
            # looks up two bounds per rollback in its window, and filtering the whole tail
            # for each took 27 % of serve's CPU under bench/bench_memory.py's reads.
            if self._tail_places is None:
                ordered = _in_time_order(self._tail, self._time).combine_chunks()
                self._tail_places = Places(ordered, ordered.column(self._time).to_numpy())
            found.append(self._tail_places.latest(place, version, high, seq, low))
        return max((moment for moment in found if moment is not None), default=None)

    @property
    def earliest(self) -> int:
        """The earliest time held (epoch_us; 0 when empty): where searching back can stop."""
        times = [int(self._times[0])] if len(self._times) else []
        if self._tail is not None and self._tail.num_rows:
            times.append(pc.min(self._tail.column(self._time)).as_py())
        return min(times, default=0)

    def __len__(self) -> int:
        return self._rows.num_rows + (self._tail.num_rows if self._tail is not None else 0)

    def between(self, low: int, high: int) -> list[Part]:
        """The rows whose time (epoch_us) is in [low, high]: a slice of the sorted part,
        and the tail's such rows if there is a tail."""
        first = int(np.searchsorted(self._times, low, side="left"))
        end = int(np.searchsorted(self._times, high, side="right"))
        parts = [Part(self._rows.slice(first, end - first), self._dictionary)]
        if self._tail is not None:
            times = self._tail.column(self._time)
            late = pc.and_(pc.greater_equal(times, low), pc.less_equal(times, high))
            parts.append(Part(self._tail.filter(late)))
        return parts

    def _dictionary(self, column: str) -> Dictionary:
        """A dictionary column of the sorted part as Python, made on first use (concurrent
        calls may both make it: the same value)."""
        found = self._dictionaries.get(column)
        if found is None:
            chunks = self._rows.column(column).chunks
            found = self._dictionaries[column] = Dictionary(chunks[0].dictionary)
        return found

    def extended(self, rows: pa.Table) -> Timeline:
        """This timeline with ``rows`` (later in seq) added to its tail."""
        if rows.num_rows == 0:
            return self
        # Columns keep the types the load chose (dictionary-encoded or plain).
        rows = rows.cast(self._rows.schema)
        tail = rows if self._tail is None else _concat(self._tail, rows)
        return self._with_tail(tail)

    def _with_tail(self, tail: pa.Table | None) -> Timeline:
        # The sorted part's places and dictionaries, already made, stay with it.
        timeline = Timeline(self._time, self._rows, tail)
        timeline._places, timeline._dictionaries = self._places, self._dictionaries
        return timeline

    @property
    def merge_due(self) -> bool:
        """Whether the tail has grown enough to be merged into the sorted part."""
        return self.tail_rows >= max(TAIL_ROWS_MIN, self._rows.num_rows // 64)

    @property
    def tail_rows(self) -> int:
        return 0 if self._tail is None else self._tail.num_rows

    def merged(self) -> Timeline:
        """The sorted part and the tail as one sorted part (~0.2 s a million rows), with the
        places remade if this timeline had made them (the next rollback bound needs them)."""
        rows = self._rows if self._tail is None else _concat(self._rows, self._tail)
        timeline = Timeline(self._time, _in_time_order(rows, self._time).combine_chunks())
        if self._places is not None:
            timeline._places = Places(timeline._rows, timeline._times)
        pa.default_memory_pool().release_unused()  # the copies the merge made
        return timeline

    def rebased(self, merged: Timeline, merged_tail_rows: int) -> Timeline:
        """``merged`` (made from this timeline's sorted part and the first
        ``merged_tail_rows`` of its tail) with the rest of this tail, caught up meanwhile."""
        rest = None if self._tail is None else self._tail.slice(merged_tail_rows)
        return merged._with_tail(rest if rest is not None and rest.num_rows else None)


def _concat(first: pa.Table, second: pa.Table) -> pa.Table:
    # Dictionaries differ between reads; unify them so the columns stay one dictionary each.
    return pa.concat_tables([first, second], promote_options="permissive").unify_dictionaries()


class Timelines:
    """One ledger file's kept tables, all current up to event seq ``newest``."""

    def __init__(self, newest: int, tables: dict[str, Timeline]) -> None:
        self.newest = newest
        self._tables = tables

    def __getitem__(self, name: str) -> Timeline:
        return self._tables[name]

    def with_merged(self, merged: dict[str, Timeline], snapshot: Timelines) -> Timelines:
        """These timelines with ``merged`` (made from ``snapshot``'s) in place of theirs."""
        tables = dict(self._tables)
        for name, timeline in merged.items():
            tables[name] = tables[name].rebased(timeline, snapshot[name].tail_rows)
        return Timelines(self.newest, tables)

    def caught_up(self, cur: duckdb.DuckDBPyConnection, newest: int) -> Timelines:
        tables = {
            table.name: self._tables[table.name].extended(
                _in_time_order(_arrow(cur, _select(table), [self.newest, newest]), table.time)
            )
            for table in TABLES
        }
        return Timelines(newest, tables)


def _load(cur: duckdb.DuckDBPyConnection, newest: int) -> Timelines | None:
    counts = cur.execute(
        "SELECT " + ", ".join(f"(SELECT count(*) FROM {table.name})" for table in TABLES)
    ).fetchall()[0]
    if max(counts) > KEPT_ROWS_MAX:
        return None
    loaded = Timelines(
        newest,
        {
            table.name: Timeline(
                table.time,
                _compact(_in_time_order(_arrow(cur, _select(table), [-1, newest]), table.time)),
            )
            for table in TABLES
        },
    )
    # Hand back what sorting and encoding freed (Arrow's allocator keeps it otherwise).
    pa.default_memory_pool().release_unused()
    return loaded


class _Kept:
    """A ledger file's timelines, loaded by the first call that asks and caught up by later
    ones; ``None`` from ``current`` while another thread loads (or the tables are too big).

    Catching up only appends to the tails. A tail grown enough is merged into its sorted
    part on a thread of its own (~0.2 s a million rows, and the places of the deployments
    ~0.1 s), not in the call that caught up: calls meanwhile read the tail as it is."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._timelines: Timelines | None = None
        self._too_big = False
        self._merging: threading.Thread | None = None

    def current(self, cur: duckdb.DuckDBPyConnection, newest: int) -> Timelines | None:
        if not self._lock.acquire(blocking=self._timelines is not None):
            return None
        try:
            if self._too_big:
                return None
            if self._timelines is None:
                self._timelines = _load(cur, newest)
                self._too_big = self._timelines is None
            elif self._timelines.newest < newest:
                self._timelines = self._timelines.caught_up(cur, newest)
                self._start_merge(self._timelines)
            return self._timelines
        finally:
            self._lock.release()

    def _start_merge(self, timelines: Timelines) -> None:
        """(Under the lock.) Merge the tails that are due, unless a merge is under way."""
        due = [table.name for table in TABLES if timelines[table.name].merge_due]
        if not due or self._merging is not None:
            return
        self._merging = threading.Thread(
            target=self._merge, args=(timelines, due), name="kept-timelines-merge", daemon=True
        )
        self._merging.start()

    def _merge(self, snapshot: Timelines, due: list[str]) -> None:
        try:
            merged = {name: snapshot[name].merged() for name in due}
            with self._lock:
                current = self._timelines
                if current is not None:
                    self._timelines = current.with_merged(merged, snapshot)
        except Exception:  # the tails stay as they are: answers remain right, only slower
            log.exception("merging the kept timelines failed")
        finally:
            with self._lock:
                self._merging = None

    def settle(self) -> None:
        """Wait for a merge under way (tests and benchmarks)."""
        merging = self._merging
        if merging is not None:
            merging.join()


_KEPT: dict[tuple[str, str | None], _Kept] = {}
_KEPT_LOCK = threading.Lock()


def kept_timelines(
    cur: duckdb.DuckDBPyConnection, path: str | None, ledger_id: str | None, newest: int
) -> Timelines | None:
    """The kept timelines of the ledger file at ``path`` holding ledger ``ledger_id``, current
    up to event seq ``newest``; None for an in-memory ledger (no path), tables too big to
    keep, or while another thread loads them: read the windows with SQL then."""
    if not path:
        return None
    with _KEPT_LOCK:
        kept = _KEPT.setdefault((path, ledger_id), _Kept())
    return kept.current(cur, newest)


def settle_merges() -> None:
    """Wait for the merges under way in every kept ledger file (tests and benchmarks)."""
    with _KEPT_LOCK:
        kept = list(_KEPT.values())
    for one in kept:
        one.settle()
