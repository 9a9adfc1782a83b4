"""Recompute the log's trees (ledger/recordlog.py) from the stored record entries and find the
first record that was changed, inserted or deleted, or a stored node or head that disagrees.

Each partition is read in index ranges of ``CHUNK`` rows, each fetched in full before the
stored nodes of that range are looked up on the same cursor (a DuckDB cursor holds one
pending result). Memory stays bounded by ``CHUNK``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from provenance_ledger.ledger import logstore, merkle, recordlog
from provenance_ledger.ledger.rows import single_value

# Records per read (a module constant so tests can build ledgers several chunks long).
CHUNK = 4096


@dataclass(frozen=True)
class Problem:
    where: str  # "row seq 137", "partition 2 record 41", "dead letter seq 5"
    kind: str  # changed | inserted | deleted
    detail: str
    seq: int | None = None
    row: dict[str, Any] | None = None


@dataclass
class Walked:
    roots: dict[int, bytes] = field(default_factory=dict)
    problem: Problem | None = None


def walk_log(cur: duckdb.DuckDBPyConnection, head: logstore.Head) -> Walked:
    walked = Walked()
    sizes = dict(head.cut)
    stray = cur.execute("SELECT DISTINCT kafka_partition FROM log_records ORDER BY 1").fetchall()
    for (partition,) in stray:
        if partition not in sizes:
            walked.problem = _record(
                partition, 0, "inserted", "the log's head has no such partition"
            )
            return walked
    for partition, size in head.cut:
        tree = merkle.CompactRange()
        walked.problem = _walk_partition(cur, partition, size, tree)
        if walked.problem is not None:
            return walked
        walked.roots[partition] = tree.root()
    heads = [(partition, size, walked.roots[partition]) for partition, size in head.cut]
    if recordlog.head_root(heads) != head.root:
        walked.problem = Problem(
            "the log's head", "changed", "the root over the partition heads differs"
        )
    return walked


def _walk_partition(
    cur: duckdb.DuckDBPyConnection, partition: int, size: int, tree: merkle.CompactRange
) -> Problem | None:
    last_offset = -1
    for chunk in _chunks(cur, partition):
        computed: list[tuple[int, int, bytes]] = []
        for index, offset, entry, stored_leaf in chunk:
            expected = tree.size
            if index < expected or expected >= size:
                return _record(partition, index, "inserted", f"beyond the head's {size} records")
            if index > expected:
                return _record(partition, expected, "deleted", f"the next stored is {index}")
            entry = bytes(entry)
            leaf = merkle.leaf_hash(entry)
            if (
                leaf != bytes(stored_leaf)
                or recordlog.entry_position(entry) != (partition, offset)
                or offset <= last_offset
            ):
                return _record(partition, index, "changed", "its entry no longer makes its leaf")
            last_offset = offset
            computed.extend(tree.append(leaf))
        stored = logstore.fetch_nodes(cur, partition, {(lv, ix) for lv, ix, _ in computed})
        for level, index, value in computed:
            if stored.get((level, index)) != value:
                first = index << level
                return _record(
                    partition,
                    first,
                    "changed",
                    f"the node over records {first}..{first + (1 << level) - 1} does not match",
                )
    if tree.size < size:
        return _record(partition, tree.size, "deleted", f"the head counts {size} records")
    return None


def _chunks(cur: duckdb.DuckDBPyConnection, partition: int):
    """A partition's records in index order, in lists of at most ``CHUNK``; a gap skips to
    the next stored index, so a row forged far beyond the end costs one query."""
    low = single_value(
        cur.execute(
            "SELECT least(min(idx), 0) FROM log_records WHERE kafka_partition = ?", [partition]
        )
    )
    while low is not None:
        batch = cur.execute(
            "SELECT idx, kafka_offset, entry, leaf_hash FROM log_records "
            "WHERE kafka_partition = ? AND idx >= ? AND idx < ? ORDER BY idx",
            [partition, low, low + CHUNK],
        ).fetchall()
        if batch:
            yield batch
            low += CHUNK
        else:
            low = single_value(
                cur.execute(
                    "SELECT min(idx) FROM log_records WHERE kafka_partition = ? AND idx >= ?",
                    [partition, low],
                )
            )


def _record(partition: int, index: int, kind: str, detail: str) -> Problem:
    return Problem(f"partition {partition} record {index}", kind, detail)
