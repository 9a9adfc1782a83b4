"""The writer's steps: one batch's rows, inside the transaction ledger/store.py opens.

:func:`write_rows` runs them in order, each a function named for what it does: sort out the
events (dedupe, number the new ones), append every record of the batch to the log
(ledger/recordlog.py), insert the events rows, the log's rows and head, the projection rows,
the commit facts, the dead letters, and move the offsets. In careful mode (the retry of a
batch that failed) each event's own work is checked on its own, so a bad event becomes a
dead letter instead of failing its neighbours.
"""

from __future__ import annotations

import bisect
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum

import duckdb
import numpy as np
import pyarrow as pa

from provenance_ledger.ledger import commit_facts, merkle, recordlog
from provenance_ledger.ledger.batch import MAX_DETAIL_CHARS, BatchResult, Incoming, Rejected
from provenance_ledger.ledger.dead_rows import dead_letter_columns
from provenance_ledger.ledger.event_rows import event_columns, typed_table
from provenance_ledger.ledger.keyindex import KeyIndex, key_hashes
from provenance_ledger.ledger.origin import KAFKA
from provenance_ledger.ledger.projection import (
    Accepted,
    Columns,
    Row,
    Rows,
    TableShape,
    project_checked,
    project_columns,
)
from provenance_ledger.schemas.codec import KafkaRecord

log = logging.getLogger(__name__)
ENVELOPE_ATTRIBUTES = ("specversion", "id", "source", "type", "time", "subject", "dataschema")
KEYS_SCHEMA = pa.schema([("source", pa.string()), ("id", pa.string())])
# Extension attributes = the canonical event minus the envelope attributes and data.
_NOT_EXTENSIONS = json.dumps(dict.fromkeys((*ENVELOPE_ATTRIBUTES, "data")))
# The Arrow type of each column of each table the writer inserts into (as_arrow).
_ARROW_TYPES: dict[str, dict[str, pa.DataType]] = {}
# The time column each table gets from the batch's commit time.
STAMPED = {"events": "ingested_at", "dead_letters": "received_at"}
EVENT_JSON_COLUMNS = (
    ", json_extract(canonical, '$.data') AS data"
    f", json_merge_patch(canonical, '{_NOT_EXTENSIONS}') AS attributes"
)


@dataclass
class Sorted:
    """The batch's events sorted out: those new to the ledger, with their seq, and what
    became of the others."""

    new: list[Incoming] = field(default_factory=list)
    accepted: list[Accepted] = field(default_factory=list)
    # Where the new events sit in the batch (to pick their key hashes).
    positions: list[int] = field(default_factory=list)
    duplicates: int = 0
    # Conflicting duplicates, and (careful) events whose own work failed.
    dead: list[Rejected] = field(default_factory=list)


@dataclass
class LogRows:
    """The batch's records appended to the log: their rows, the nodes they complete, and
    each accepted event's leaf by seq (its ``events.leaf_hash``)."""

    columns: Columns
    nodes: Columns
    leaf_of_seq: dict[int, bytes]


def write_rows(
    cur: duckdb.DuckDBPyConnection,
    log_state: recordlog.RecordLog,
    next_seq: int,
    keys: KeyIndex,
    incoming: list[Incoming],
    rejected: list[Rejected],
    offsets: dict[tuple[str, int], int],
    careful: bool,
) -> tuple[BatchResult, np.ndarray]:
    """The batch's rows; what was written, and the key hashes of the accepted events in seq
    order (for the key index, once the transaction commits). ``log_state`` grows by every
    record."""
    now = datetime.now(UTC)
    known, key_hash = known_hashes(cur, keys, incoming)
    batch = sort_out(cur, next_seq, incoming, known, careful)
    dead = [*rejected, *batch.dead]
    log_rows = append_to_log(log_state, incoming, rejected, batch)
    if batch.accepted:
        insert_events(cur, batch, log_rows.leaf_of_seq, now)
    insert_log(cur, log_state, log_rows, next_seq + len(batch.accepted), now)
    tables, unprojectable = insert_projection(cur, batch.accepted, incoming, careful)
    dead += unprojectable
    if batch.accepted:
        commit_facts.catch_up(cur, batch.accepted[0].seq)
    insert_dead_letters(cur, dead, now)
    advance_offsets(cur, offsets, now)
    result = BatchResult(len(batch.accepted), batch.duplicates, len(dead), tables)
    return result, key_hash[batch.positions]


def sort_out(
    cur: duckdb.DuckDBPyConnection,
    next_seq: int,
    incoming: list[Incoming],
    known: dict[tuple[str, str], str],
    careful: bool,
) -> Sorted:
    """Dedupe by (source, id) against ``known`` (the stored content hashes) and the batch
    itself: a repeat with the same content is a duplicate, with other content a dead letter;
    a new event gets the next seq."""
    batch = Sorted()
    # Careful: each event's own work (hash, leaf, its events row) is checked on its own.
    events_shape = table_shape(cur, "events") if careful else None
    for at, item in enumerate(incoming):
        decoded = item.decoded
        seq = next_seq + len(batch.accepted)
        try:
            _own_work(item, seq, events_shape)
        except Exception as exc:
            if events_shape is None:
                raise
            log.exception("event at offset %s could not be written", item.record.offset)
            batch.dead.append(_internal_error(item, exc))
            continue
        repeat = judge_repeat(known, (decoded.event.source, decoded.event.id), decoded.content_hash)
        if repeat is Repeat.SAME:
            batch.duplicates += 1
            continue
        if repeat is Repeat.OTHER:
            batch.dead.append(_conflict(item))
            continue
        batch.positions.append(at)
        batch.new.append(item)
        batch.accepted.append(Accepted(seq, decoded))
    return batch


class Repeat(Enum):
    NEW = "new"
    SAME = "same content"
    OTHER = "other content"


def judge_repeat(known: dict[tuple[str, str], str], key: tuple[str, str], content: str) -> Repeat:
    """The deduplication rule of both write paths (this one and ledger/prepared_writer.py):
    a (source, id) that ``known`` lacks (stored, or earlier in the batch) is new, and is
    known from now on; a repeat of the same content hash is a duplicate, of another a
    conflict (a dead letter)."""
    previous = known.get(key)
    if previous is None:
        known[key] = content
        return Repeat.NEW
    return Repeat.SAME if previous == content else Repeat.OTHER


def _own_work(item: Incoming, seq: int, events_shape: TableShape | None) -> None:
    """Build the event's canonical bytes (hence its content hash); with ``events_shape``, its
    log leaf and events row are also checked against the table's real columns (otherwise
    append_to_log makes the leaf, once)."""
    decoded = item.decoded
    decoded.canonical  # noqa: B018 (built and cached on the event)
    if events_shape is not None:
        leaf = merkle.leaf_hash(recordlog.record_entry(item.record))
        row = event_columns([item], [Accepted(seq, decoded)], {seq: leaf})
        events_shape.check([{name: column[0] for name, column in row.items()}])


def append_to_log(
    log_state: recordlog.RecordLog,
    incoming: list[Incoming],
    rejected: list[Rejected],
    batch: Sorted,
) -> LogRows:
    """Every record of the batch, in (partition, offset) order, as a leaf of its partition's
    tree: accepted events, duplicates and dead letters alike, so that the log is the topic's."""
    seq_of = {
        id(item): accepted.seq for item, accepted in zip(batch.new, batch.accepted, strict=True)
    }
    refused = {id(item.record) for item in batch.dead}
    placed: list[tuple[KafkaRecord, int | None, Incoming | None]] = [
        (item.record, seq_of.get(id(item)), item) for item in incoming
    ]
    placed += [(item.record, None, None) for item in rejected if item.record is not None]
    placed.sort(key=_log_position)
    # Column by column over the whole batch: each step one comprehension, the tree appends
    # one loop per partition (bench/bench_log.py measures it).
    records = [record for record, _, _ in placed]
    seqs = [seq for _, seq, _ in placed]
    partitions = [record.partition for record in records]
    # A record whose value is its event's canonical bytes (most JSON records) has its value
    # digest already: the content hash, which sort_out computed (one SHA-256 less per record).
    verbatim = [
        item is not None and id(record) not in refused and record.value == item.decoded.canonical
        for record, _, item in placed
    ]
    entries = [
        recordlog.record_entry(
            record, bytes.fromhex(item.decoded.content_hash) if same and item else None
        )
        for (record, _, item), same in zip(placed, verbatim, strict=True)
    ]
    leaves = [merkle.leaf_hash(entry) for entry in entries]
    indexes: list[int] = []
    nodes: list[tuple[int, int, int, bytes]] = []
    start = 0
    while start < len(records):
        partition = partitions[start]
        end = bisect.bisect_right(partitions, partition, start)
        first, completed = log_state.extend(partition, leaves[start:end])
        indexes.extend(range(first, first + end - start))
        nodes.extend((partition, *node) for node in completed)
        start = end
    outcomes, kept = [], []
    for (record, seq, item), same in zip(placed, verbatim, strict=True):
        if seq is not None:
            outcomes.append("accepted")
            kept.append(None if same else record.value)
            continue
        duplicate = item is not None and id(record) not in refused
        outcomes.append("duplicate" if duplicate else "dead_letter")
        kept.append(None)
    columns: Columns = {
        "kafka_partition": partitions,
        "idx": indexes,
        "kafka_offset": [record.offset for record in records],
        "entry": entries,
        "leaf_hash": leaves,
        "outcome": outcomes,
        "event_seq": seqs,
        "value": kept,
    }
    leaf_of_seq = {seq: leaf for seq, leaf in zip(seqs, leaves, strict=True) if seq is not None}
    return LogRows(columns, node_columns(nodes), leaf_of_seq)


def node_columns(nodes: list[tuple[int, int, int, bytes]]) -> Columns:
    """The ``log_nodes`` columns of (partition, level, idx, hash) nodes; none for none."""
    if not nodes:
        return {}
    names = ("kafka_partition", "level", "idx", "hash")
    return {name: [node[at] for node in nodes] for at, name in enumerate(names)}


def _log_position(placed: tuple[KafkaRecord, int | None, Incoming | None]) -> tuple[int, int]:
    return placed[0].partition, placed[0].offset


def insert_events(
    cur: duckdb.DuckDBPyConnection, batch: Sorted, leaf_of_seq: dict[int, bytes], now: datetime
) -> None:
    # data and extension attributes are cut from the canonical JSON inside DuckDB:
    # one vectorised pass instead of two json.dumps per event.
    columns = event_columns(batch.new, batch.accepted, leaf_of_seq)
    _insert(cur, "events", columns, EVENT_JSON_COLUMNS, now)


def insert_log(
    cur: duckdb.DuckDBPyConnection,
    log_state: recordlog.RecordLog,
    rows: LogRows,
    events: int,
    now: datetime,
) -> None:
    """The batch's log rows, the nodes they completed, and the log's head after it."""
    if rows.columns["idx"]:
        _insert(cur, "log_records", rows.columns)
    insert_log_head(cur, log_state, rows.nodes, events, now)


def insert_log_head(
    cur: duckdb.DuckDBPyConnection,
    log_state: recordlog.RecordLog,
    nodes: Columns,
    events: int,
    now: datetime,
) -> None:
    """The tree nodes a batch's records completed, and the log's head after it."""
    if nodes:
        _insert(cur, "log_nodes", nodes)
    cur.execute(
        "INSERT INTO log_heads VALUES (?, ?, ?, ?, ?)",
        [log_state.size, log_state.root(), recordlog.format_cut(log_state.cut()), events, now],
    )


def insert_projection(
    cur: duckdb.DuckDBPyConnection,
    accepted: list[Accepted],
    incoming: list[Incoming],
    careful: bool,
) -> tuple[dict[str, int], list[Rejected]]:
    """The projection rows of the accepted events: rows per table, and (careful) the events
    whose projection failed, as dead letters."""
    if careful:
        rows, unprojectable = project_careful(cur, accepted, incoming)
        projected = {table: _columns(table_rows) for table, table_rows in rows.items()}
    else:
        projected, unprojectable = project_columns(accepted), []
    tables = {}
    for table, columns in projected.items():
        _insert(cur, table, columns)
        tables[table] = len(next(iter(columns.values())))
    return tables, unprojectable


def insert_dead_letters(
    cur: duckdb.DuckDBPyConnection, dead: list[Rejected], now: datetime
) -> None:
    if dead:
        _insert(cur, "dead_letters", dead_letter_columns(dead), "", now)


def advance_offsets(
    cur: duckdb.DuckDBPyConnection, offsets: dict[tuple[str, int], int], now: datetime
) -> None:
    if not offsets:
        return
    # One statement for every partition of the batch (each costs ~1 µs per event of a batch
    # of 5,000). Appended (schema.sql says why); the view kafka_offsets takes the furthest
    # mark, so a stale batch never moves a partition's offset back.
    rows = ", ".join("(?, ?, ?, ?)" for _ in offsets)
    cur.execute(
        f"INSERT INTO kafka_offset_marks VALUES {rows}",
        [
            value
            for (topic, partition), next_offset in offsets.items()
            for value in (topic, partition, next_offset, now)
        ],
    )


def _internal_error(item: Incoming, exc: Exception) -> Rejected:
    event = item.decoded.event
    detail = f"{type(exc).__name__}: {exc}"[:MAX_DETAIL_CHARS]
    return Rejected(
        item.record, "internal_error", detail, event.source, event.id, event.type, item.origin
    )


def _conflict(item: Incoming) -> Rejected:
    event = item.decoded.event
    return Rejected(
        item.record,
        "conflicting_duplicate",
        f"({event.source}, {event.id}) was already accepted with other content",
        event.source,
        event.id,
        event.type,
        item.origin,
    )


def project_careful(
    cur: duckdb.DuckDBPyConnection, accepted: list[Accepted], incoming: list[Incoming]
) -> tuple[Rows, list[Rejected]]:
    """The projection, event by event, against the tables' real columns: an event whose rows
    break a type or NOT NULL stays in ``events`` (and the Merkle log) and its projection
    goes to the dead letters with the reason."""
    rows, failures = project_checked(accepted, _table_schemas(cur))
    arrived = {id(item.decoded): item for item in incoming}
    refused = []
    for item, reason in failures:
        event = item.decoded.event
        detail = f"seq {item.seq} is stored but could not be projected: {reason}"
        found = arrived.get(id(item.decoded))
        record, origin = (found.record, found.origin) if found else (None, KAFKA)
        refused.append(
            Rejected(
                record, "projection_failed", detail, event.source, event.id, event.type, origin
            )
        )
    return rows, refused


def _table_schemas(cur: duckdb.DuckDBPyConnection) -> dict[str, TableShape]:
    tables = cur.execute("SELECT table_name FROM duckdb_tables()").fetchall()
    return {table: table_shape(cur, table) for (table,) in tables}


def table_shape(cur: duckdb.DuckDBPyConnection, table: str) -> TableShape:
    schema = cur.sql(f'SELECT * FROM "{table}" LIMIT 0').to_arrow_table().schema
    not_null = cur.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND NOT is_nullable",
        [table],
    ).fetchall()
    return TableShape(schema, frozenset(name for (name,) in not_null))


def known_hashes(
    cur: duckdb.DuckDBPyConnection, index: KeyIndex, incoming: list[Incoming]
) -> tuple[dict[tuple[str, str], str], np.ndarray]:
    """Content hashes of the batch's keys already stored, and each key's hash. Only the
    events whose key hash the index holds are read, by seq: a batch of new keys reads none."""
    if not incoming:
        return {}, np.zeros(0, dtype=np.uint64)
    sources = [item.decoded.event.source for item in incoming]
    ids = [item.decoded.event.id for item in incoming]
    key_hash = key_hashes(cur, pa.table({"source": sources, "id": ids}, KEYS_SCHEMA))
    return stored_content_hashes(cur, index.seqs_of(key_hash)), key_hash


def stored_content_hashes(
    cur: duckdb.DuckDBPyConnection, seqs: np.ndarray
) -> dict[tuple[str, str], str]:
    """The content hash of the stored event at each of ``seqs``, by its key."""
    if not len(seqs):
        return {}
    # No try/finally: after a failure the transaction (registration included) rolls back.
    cur.register("maybe_stored", pa.table({"seq": seqs}))
    found = cur.execute(
        "SELECT e.source, e.id, e.content_hash FROM events e JOIN maybe_stored USING (seq)"
    ).fetchall()
    cur.unregister("maybe_stored")
    # Keys that only share a hash with the batch's are never asked for by sort_out.
    return {(source, id_): content for source, id_, content in found}


def _columns(rows: list[Row]) -> Columns:
    """Row dicts of one shape as columns."""
    return {name: [row.get(name) for row in rows] for name in rows[0]}


def _insert(
    cur: duckdb.DuckDBPyConnection,
    table: str,
    columns: Columns,
    extra: str = "",
    now: datetime | None = None,
) -> None:
    """One INSERT of a batch's columns; with ``now``, that time is the table's own time
    column (``ingested_at``/``received_at``), set in SQL rather than repeated per row."""
    insert_table(cur, table, as_arrow(cur, table, columns), extra, now)


def insert_table(
    cur: duckdb.DuckDBPyConnection,
    table: str,
    rows: pa.Table,
    extra: str = "",
    now: datetime | None = None,
) -> None:
    """:func:`_insert` of an Arrow table of the table's own column types."""
    if not extra and now is None and rows.schema.names == list(arrow_types(cur, table)):
        # Every column, in the table's order: appended as a relation, without registering a
        # view (creating and binding it cost ~1 ms per INSERT, ~15 INSERTs per batch).
        cur.from_arrow(rows).insert_into(table)
        return
    cur.register("batch_rows", rows)
    if now is None:
        cur.execute(f"INSERT INTO {table} BY NAME SELECT *{extra} FROM batch_rows")
    else:
        column = STAMPED[table]
        cur.execute(
            f"INSERT INTO {table} BY NAME SELECT *{extra}, $now AS {column} FROM batch_rows",
            {"now": now},
        )
    cur.unregister("batch_rows")


def as_arrow(cur: duckdb.DuckDBPyConnection, table: str, columns: Columns) -> pa.Table:
    """The columns as an Arrow table of the table's own column types, not ones pyarrow
    infers (which cost ~40 µs a column while dateutil was not installed: 1 to 2 µs per event
    of a batch of 5,000). Every file a ledger opens has this provledger's schema
    (ledger/migrate.py), so the types are looked up once."""
    return typed_table(columns, arrow_types(cur, table))


def arrow_types(cur: duckdb.DuckDBPyConnection, table: str) -> dict[str, pa.DataType]:
    """The Arrow type of each of ``table``'s columns, in its order (looked up once)."""
    types = _ARROW_TYPES.get(table)
    if types is None:
        schema = cur.sql(f'SELECT * FROM "{table}" LIMIT 0').to_arrow_table().schema
        types = _ARROW_TYPES[table] = dict(zip(schema.names, schema.types, strict=True))
    return types


def table_types(cur: duckdb.DuckDBPyConnection) -> dict[str, dict[str, pa.DataType]]:
    """:func:`arrow_types` of every table of the ledger."""
    tables = cur.execute("SELECT table_name FROM duckdb_tables()").fetchall()
    return {table: arrow_types(cur, table) for (table,) in tables}
