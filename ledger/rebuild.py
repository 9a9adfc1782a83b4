"""Rebuild the DuckDB projection by replaying the topic (the log of record) into a new file,
compare it with the old one table by table, and swap it in atomically.

Kafka orders records within a partition only, so with several partitions a replay may
interleave them differently: rows are compared on content, with every ``seq`` reference
replaced by the (source, id) of the event it points to. The log (ledger/recordlog.py) does not
depend on that order: a replay of the same records has the same head, whatever the
interleaving.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
from kafka import KafkaConsumer, TopicPartition

from provenance_ledger.ledger import commit_packs, fileshape, memorylimit, origin
from provenance_ledger.ledger.attach import attach_read_only
from provenance_ledger.ledger.batch import (
    BatchResult,
    decode_batch,
    next_offsets,
    relax_gc,
    to_record,
)
from provenance_ledger.ledger.commitqueue import CommitQueue
from provenance_ledger.ledger.preparer import Preparer, write_prepared
from provenance_ledger.ledger.rows import has_table, single_row, single_value
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger, LedgerError
from provenance_ledger.schemas.codec import KafkaRecord
from provenance_ledger.schemas.commandline import runnable
from provenance_ledger.schemas.errors import LocalFailure

Progress = Callable[[int, int], None]
# Columns that record when a row was written, not what it says.
VOLATILE = {"ingested_at", "received_at", "updated_at", "committed_at"}
# The log: compared through the final head, not row by row (batch boundaries, seq numbers).
# merkle_nodes and tree_heads are the log of files from before it (rebuild migrates them).
TREE_TABLES = {"log_records", "log_nodes", "log_heads", "merkle_nodes", "tree_heads"}
# A mark per partition and batch (ledger/schema.sql): where batches fell differs between a
# replay and the original. The furthest marks, the view kafka_offsets, are compared instead.
OFFSET_MARKS = "kafka_offset_marks"
OFFSETS = "kafka_offsets"
# What the file says about itself, not about the log: the schema it was migrated with, and
# the policy definitions serve recorded. The rebuilt file keeps the old file's policy.
NOT_FROM_THE_LOG = {"ledger_schema", "policy_definitions"}
# Kept behind the writer by serve (ledger/commit_packs.py): a rebuilt file starts without them
# and serve packs it anew; what they are made from is compared.
PACKS = set(commit_packs.TABLES)


class RebuildError(RuntimeError, LocalFailure):
    pass


@dataclass(frozen=True)
class TableDiff:
    table: str
    old_rows: int
    new_rows: int
    only_old: int
    only_new: int

    @property
    def equal(self) -> bool:
        return self.only_old == 0 and self.only_new == 0


@dataclass(frozen=True)
class RebuildResult:
    events: int
    tables: list[TableDiff]
    same_root: bool
    swapped: bool
    backup: Path | None
    replay_s: float
    """wall seconds reading the topic into the new file (not the comparison)"""

    @property
    def events_per_s(self) -> float:
        return self.events / self.replay_s if self.replay_s > 0 else 0.0

    @property
    def equal(self) -> bool:
        return all(diff.equal for diff in self.tables)


def rebuild(
    settings: Settings, on_progress: Progress | None = None, force: bool = False
) -> RebuildResult:
    path = Path(settings.db_path)
    new_path = path.with_name(path.name + ".rebuild")
    _checkpoint_old(path)
    if settings.duckdb_memory_limit is not None and path.exists():
        # The replay grows the new file to the old one's size, indexes included.
        memorylimit.refuse_below_need_of_file(path, settings.duckdb_memory_limit)
    for leftover in (new_path, Path(f"{new_path}.wal")):
        leftover.unlink(missing_ok=True)
    fresh = Ledger.open(new_path, migrate=True, memory_limit=settings.duckdb_memory_limit)
    try:
        fresh.adopt_identity_of(path)
        started = time.perf_counter()
        events = replay(settings, fresh, on_progress)
        replay_s = time.perf_counter() - started
    finally:
        fresh.close()
    _keep_policy_of(path, new_path)
    tables, same_root, old_events = compare(new_path, path)
    if old_events > events and not force:
        raise RebuildError(
            f"the replay found {events} events but {path} has {old_events}: the topic lost "
            f"records (retention?). Kept the old file; the replay is at {new_path}. "
            "Use --force to swap anyway."
        )
    backup = None
    if path.exists():
        backup = path.with_name(path.name + ".before-rebuild")
        backup.unlink(missing_ok=True)
        os.link(path, backup)
    os.replace(new_path, path)
    return RebuildResult(events, tables, same_root, True, backup, replay_s)


def _keep_policy_of(old_path: Path, new_path: Path) -> None:
    """The SQL views read the policy serve last recorded; a rebuild must not reset it to the
    contract's defaults until serve starts again."""
    if not old_path.exists():
        return
    conn = duckdb.connect(str(new_path))
    try:
        attach_read_only(conn, old_path, "old")
        if has_table(conn, "policy_definitions", "old"):
            conn.execute("BEGIN")
            conn.execute("DELETE FROM policy_definitions")
            conn.execute(
                "INSERT INTO policy_definitions BY NAME SELECT * FROM old.policy_definitions"
            )
            conn.execute("COMMIT")
    finally:
        conn.close()


def _checkpoint_old(path: Path) -> None:
    """Fold the old file's WAL into it (a WAL left beside the new file would corrupt it),
    and fail early, clearly, if a server holds the file or it is not a ledger (checked
    read-only first: the swap would replace another app's file)."""
    if not path.exists():
        return
    conn = _open_old(path, read_only=True)
    try:
        fileshape.check(conn, path)
    finally:
        conn.close()
    conn = _open_old(path, read_only=False)
    try:
        conn.execute("CHECKPOINT")
    finally:
        conn.close()


def _open_old(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        if fileshape.is_lock_error(exc):
            raise RebuildError(
                f"{path} is in use (is `provledger serve` running?): stop it, run "
                f"`{runnable('rebuild')}`, then start it again. ({exc})"
            ) from exc
        raise fileshape.open_failure(path, exc) from exc


def replay(settings: Settings, ledger: Ledger, on_progress: Progress | None = None) -> int:
    """Read every partition from its beginning to the end offsets seen at the start."""
    relax_gc()  # as the consumer does: a replay is the same hot loop
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_poll_records=settings.batch_max_records,
        fetch_max_bytes=64 * 1024 * 1024,
        # Fewer, larger fetches, as serve's consumer: less of kafka-python's CPU per record.
        fetch_min_bytes=1024 * 1024,
        max_partition_fetch_bytes=max(8 * 1024 * 1024, settings.max_event_bytes * 2),
    )
    try:
        partitions = consumer.partitions_for_topic(settings.topic)
        if not partitions:
            raise RebuildError(
                f"topic {settings.topic} does not exist on {settings.kafka_bootstrap}"
            )
        assigned = [TopicPartition(settings.topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        begin = consumer.beginning_offsets(assigned)
        ends = consumer.end_offsets(assigned)
        _replay_until(settings, ledger, consumer, begin, ends, on_progress)
        return ledger.counts()[0]
    except LedgerError as exc:
        raise RebuildError(str(exc)) from exc
    finally:
        consumer.close(autocommit=False)


def _replay_until(
    settings: Settings,
    ledger: Ledger,
    consumer: KafkaConsumer,
    begin: dict[TopicPartition, int],
    ends: dict[TopicPartition, int],
    on_progress: Progress | None,
) -> None:
    """Poll, decode and write until every partition reaches its end offset. As in serve,
    batches are handed to a writer thread (ledger/commitqueue.py): DuckDB writes them without
    the GIL while the worker (or, without one, this thread) decodes the next one; batches
    still commit one at a time, in order."""
    origins = origin.load_key(settings)  # the same key, so the same origins as before
    total = sum(ends[tp] - begin[tp] for tp in ends)
    done = 0
    if on_progress:
        on_progress(0, total)
    pending = {tp for tp in ends if ends[tp] > begin[tp]}
    commits: CommitQueue[BatchResult] = CommitQueue("rebuild-writer")
    records: list[KafkaRecord] = []
    preparer = Preparer.start(ledger, settings, origins)
    with (
        contextlib.closing(commits),
        contextlib.closing(preparer) if preparer else contextlib.nullcontext(),
    ):
        while pending:
            polled = consumer.poll(
                timeout_ms=1000, max_records=settings.batch_max_records - len(records)
            )
            records += [
                to_record(message)
                for tp, messages in polled.items()
                for message in messages
                if message.offset < ends[tp]
            ]
            pending = {tp for tp in pending if consumer.position(tp) < ends[tp]}
            # Full batches, as serve gathers them: a poll hands what one fetch brought (often
            # a few hundred records), and each batch costs ~20 statements whatever its size.
            if not records or (pending and len(records) < settings.batch_max_records):
                continue
            decode = functools.partial(decode_batch, records, settings.max_event_bytes, origins)
            offsets = next_offsets(records)
            if preparer is None:
                commits.submit(ledger.write_batch, *decode(), offsets)
            else:  # the worker prepares this batch while the writer commits the ones before
                worker = preparer.submit(records)
                commits.submit(write_prepared, ledger, worker, records, offsets, decode)
            done += len(records)
            records = []
            if on_progress:
                on_progress(done, total)
        commits.drain()


def compare(new_path: Path, old_path: Path) -> tuple[list[TableDiff], bool, int]:
    """Per-table content differences between two ledger files, whether their Merkle heads
    match, and the old file's event count."""
    conn = duckdb.connect(str(new_path), read_only=True)
    try:
        if not old_path.exists():
            return [], False, 0
        attach_read_only(conn, old_path, "old")
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
                " ORDER BY table_name"
            ).fetchall()
            if name not in TREE_TABLES | NOT_FROM_THE_LOG | PACKS | {OFFSET_MARKS}
        ]
        old_tables = {
            name
            for (name,) in conn.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'old' UNION ALL "
                "SELECT view_name FROM duckdb_views() WHERE database_name = 'old'"
            ).fetchall()
        }
        tables = sorted([*tables, OFFSETS])  # a view here; a table in files from before
        diffs = [_diff(conn, table) for table in tables if table in old_tables]
        heads = single_row(
            conn.execute(
                "SELECT (SELECT root_hash FROM log_heads ORDER BY log_size DESC LIMIT 1), "
                f"({_old_root(conn)})"
            )
        )
        old_events = single_value(conn.execute("SELECT count(*) FROM old.events"))
        return diffs, heads[0] == heads[1], old_events
    finally:
        conn.close()


def _old_root(conn: duckdb.DuckDBPyConnection) -> str:
    """The old file's head root; NULL for a file from before the log (nothing to match)."""
    if has_table(conn, "log_heads", "old"):
        return "SELECT root_hash FROM old.log_heads ORDER BY log_size DESC LIMIT 1"
    return "SELECT NULL::BLOB"


def _content(conn: duckdb.DuckDBPyConnection, db: str, table: str) -> str:
    """A SELECT of the table's content with seq references resolved to event identities."""
    columns = [
        name
        for (name,) in conn.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND table_name = ? ORDER BY column_index",
            [table],
        ).fetchall()
    ]
    picked = []
    for name in columns:
        if name in VOLATILE or (name == "seq" and table in ("events", "dead_letters")):
            continue
        if name.endswith("seq"):
            picked.append(
                f"(SELECT e.source || chr(31) || e.id FROM {db}.events e WHERE e.seq = t.{name})"
                f" AS {name}"
            )
        else:
            picked.append(f't."{name}"')
    return f"SELECT {', '.join(picked)} FROM {db}.{table} t"


def _diff(conn: duckdb.DuckDBPyConnection, table: str) -> TableDiff:
    main = '"{}"'.format(single_value(conn.execute("SELECT current_database()")))
    new, old = _content(conn, main, table), _content(conn, "old", table)
    counts = single_row(
        conn.execute(
            f"SELECT (SELECT count(*) FROM old.{table}), (SELECT count(*) FROM {main}.{table}), "
            f"(SELECT count(*) FROM ({old} EXCEPT ALL {new})), "
            f"(SELECT count(*) FROM ({new} EXCEPT ALL {old}))"
        )
    )
    return TableDiff(table, *counts)
