"""The writer's steps for a batch a worker prepared (ledger/prepare.py): the rows it made
are taken whole, as columns; what is left here needs the ledger's state.

The same rows as :func:`ledger.writer.write_rows` writes for the same records
(tests/integration/test_prepared_writer.py holds them to it): which events are new (against
the key index, then the batch itself), their seqs, each record's place in its partition's
Merkle tree, and the INSERTs. Per record there is no Python here but the log's tree, which
is the log's own append.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provenance_ledger.ledger import commit_facts, recordlog
from provenance_ledger.ledger.batch import BatchResult, Rejected
from provenance_ledger.ledger.dead_rows import dead_letter_columns
from provenance_ledger.ledger.keyindex import KeyIndex, key_hashes
from provenance_ledger.ledger.prepare import SEQ_COLUMNS, Prepared
from provenance_ledger.ledger.writer import (
    EVENT_JSON_COLUMNS,
    Repeat,
    advance_offsets,
    arrow_types,
    as_arrow,
    insert_log_head,
    insert_table,
    judge_repeat,
    node_columns,
    stored_content_hashes,
)
from provenance_ledger.schemas.codec import KafkaRecord

NO_PLACES = np.zeros(0, np.int64)


def write_prepared_rows(
    cur: duckdb.DuckDBPyConnection,
    log_state: recordlog.RecordLog,
    next_seq: int,
    keys: KeyIndex,
    prepared: Prepared,
    records: list[KafkaRecord],
    offsets: dict[tuple[str, int], int],
) -> tuple[BatchResult, np.ndarray]:
    """What :func:`ledger.writer.write_rows` does, for a prepared batch of ``records``."""
    now = datetime.now(UTC)
    events = prepared.events
    new, duplicates, conflicts, key_hash = sort_out(cur, keys, events)
    # Each event's seq by its place in ``events``; -1 for one not new, and for "no event".
    seq_of = np.full(events.num_rows + 1, -1, np.int64)
    seq_of[new] = np.arange(next_seq, next_seq + len(new))
    log_rows, nodes = log_columns(cur, log_state, prepared.log, seq_of, conflicts)
    if len(new):
        rows = events.take(new).drop_columns(["at"]).append_column("seq", pa.array(seq_of[new]))
        insert_table(cur, "events", rows, EVENT_JSON_COLUMNS, now)
    if log_rows.num_rows:
        insert_table(cur, "log_records", log_rows)
    insert_log_head(cur, log_state, nodes, next_seq + len(new), now)
    tables = {}
    for table, projected in prepared.projection.items():
        rows = with_seqs(projected, seq_of)
        if rows.num_rows:
            insert_table(cur, table, rows)
            tables[table] = rows.num_rows
    if len(new):
        commit_facts.catch_up(cur, next_seq)
    dead = [prepared.dead] if prepared.dead is not None else []
    if conflicts:
        conflicting = [_conflict(events, place, records) for place in conflicts]
        dead.append(as_arrow(cur, "dead_letters", dead_letter_columns(conflicting)))
    if dead:
        insert_table(cur, "dead_letters", pa.concat_tables(dead), "", now)
    advance_offsets(cur, offsets, now)
    dead_letters = sum(table.num_rows for table in dead)
    result = BatchResult(len(new), duplicates, dead_letters, tables)
    return result, key_hash[new]


def sort_out(
    cur: duckdb.DuckDBPyConnection, keys: KeyIndex, events: pa.Table
) -> tuple[np.ndarray, int, list[int], np.ndarray]:
    """The places of the new events (ascending), the duplicates, the places of conflicting
    duplicates, and every event's key hash. A batch of keys the ledger has not seen, none
    twice, is new as a whole; otherwise each event is judged by writer.judge_repeat."""
    if not events.num_rows:
        return NO_PLACES, 0, [], np.zeros(0, np.uint64)
    key_hash = key_hashes(cur, events.select(["source", "id"]))
    maybe_stored = keys.seqs_of(key_hash)
    if not len(maybe_stored) and len(np.unique(key_hash)) == len(key_hash):
        return np.arange(events.num_rows), 0, [], key_hash
    known = stored_content_hashes(cur, maybe_stored)
    new: list[int] = []
    conflicts: list[int] = []
    duplicates = 0
    columns = zip(
        events["source"].to_pylist(),
        events["id"].to_pylist(),
        events["content_hash"].to_pylist(),
        strict=True,
    )
    for place, (source, id_, content_hash) in enumerate(columns):
        repeat = judge_repeat(known, (source, id_), content_hash)
        if repeat is Repeat.NEW:
            new.append(place)
        elif repeat is Repeat.SAME:
            duplicates += 1
        else:
            conflicts.append(place)
    return np.array(new, np.int64), duplicates, conflicts, key_hash


def log_columns(
    cur: duckdb.DuckDBPyConnection,
    log_state: recordlog.RecordLog,
    log: pa.Table,
    seq_of: np.ndarray,
    conflicts: list[int],
) -> tuple[pa.Table, dict]:
    """The ``log_records`` rows of the batch (in (partition, offset) order, each appended to
    its partition's tree in ``log_state``) and the ``log_nodes`` columns they completed."""
    partitions = log["kafka_partition"].to_numpy()
    leaves = log["leaf_hash"].to_pylist()
    indexes = np.empty(len(leaves), np.int64)
    nodes: list[tuple[int, int, int, bytes]] = []
    bounds = [0, *(np.flatnonzero(np.diff(partitions)) + 1).tolist(), len(leaves)]
    for start, end in itertools.pairwise(bounds):
        if start == end:
            continue
        partition = int(partitions[start])
        first, completed = log_state.extend(partition, leaves[start:end])
        indexes[start:end] = np.arange(first, first + end - start)
        nodes.extend((partition, *node) for node in completed)
    place = pc.fill_null(log["event"], -1).to_numpy()
    seqs = seq_of[place]
    accepted = seqs >= 0
    refused = np.isin(place, conflicts) if conflicts else np.zeros(len(place), bool)
    duplicate = (place >= 0) & ~accepted & ~refused
    outcome = np.where(accepted, "accepted", np.where(duplicate, "duplicate", "dead_letter"))
    columns = {
        "kafka_partition": log["kafka_partition"],
        "idx": pa.array(indexes),
        "kafka_offset": log["kafka_offset"],
        "entry": log["entry"],
        "leaf_hash": log["leaf_hash"],
        "outcome": pa.array(outcome, pa.string()),
        "event_seq": pa.array(seqs, mask=~accepted),
        "value": pc.if_else(accepted, log["value"], pa.scalar(None, pa.binary())),
    }
    types = arrow_types(cur, "log_records")
    rows = pa.table({name: columns[name].cast(types[name]) for name in types})
    return rows, node_columns(nodes)


def with_seqs(rows: pa.Table, seq_of: np.ndarray) -> pa.Table:
    """``rows`` of the new events only, their seq columns holding seqs, not places."""
    seq_column = next(name for name in SEQ_COLUMNS if name in rows.column_names)
    seqs = seq_of[rows[seq_column].to_numpy()]
    kept = seqs >= 0
    if kept.all():
        kept_rows = rows
    else:
        kept_rows = rows.filter(pa.array(kept))
        seqs = seqs[kept]
    for name in SEQ_COLUMNS:
        if name in kept_rows.column_names:
            where = kept_rows.column_names.index(name)
            field = kept_rows.schema.field(name)
            kept_rows = kept_rows.set_column(where, field, pa.array(seqs, field.type))
    return kept_rows


def _conflict(events: pa.Table, place: int, records: list[KafkaRecord]) -> Rejected:
    row = events.slice(place, 1).to_pylist()[0]
    return Rejected(
        records[row["at"]],
        "conflicting_duplicate",
        f"({row['source']}, {row['id']}) was already accepted with other content",
        row["source"],
        row["id"],
        row["type"],
        row["origin"],
    )
