"""Reading the log (ledger/recordlog.py) back from the file: its latest head, the frontier to
keep appending, and any partition's root or proof at any size it had.

A proof's shape depends only on the sizes, so the nodes it needs are named first and fetched
in one query per table: the node tables have no index (one fewer on the write path), and one
scan answers a whole proof.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from provenance_ledger.ledger import merkle, recordlog
from provenance_ledger.ledger.recordlog import Cut


class MissingNode(LookupError):
    """A node the head implies is not in the file (it was changed outside the ledger)."""


@dataclass(frozen=True)
class Head:
    size: int
    root: bytes
    cut: Cut
    events: int


EMPTY = Head(0, merkle.EMPTY_ROOT, (), 0)


def latest_head(cur: duckdb.DuckDBPyConnection) -> Head:
    # fetchall: a fetchone would leave the result open on a cursor the writer goes on using.
    rows = cur.execute(
        "SELECT log_size, root_hash, partitions, events FROM log_heads "
        "ORDER BY log_size DESC, events DESC LIMIT 1"
    ).fetchall()
    if not rows:
        return EMPTY
    size, root, partitions, events = rows[0]
    return Head(size, bytes(root), recordlog.parse_cut(partitions), events)


def fetch_nodes(
    cur: duckdb.DuckDBPyConnection, partition: int, positions: set[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """The hashes at (level, index) of one partition's tree: leaves from log_records,
    the rest from log_nodes; missing ones are left out."""
    found: dict[tuple[int, int], bytes] = {}
    leaves = sorted(index for level, index in positions if level == 0)
    inner = [(level, index) for level, index in positions if level > 0]
    if leaves:
        cur.register("wanted_leaves", pa.table({"idx": leaves}))
        rows = cur.execute(
            "SELECT idx, leaf_hash FROM log_records JOIN wanted_leaves USING (idx) "
            "WHERE kafka_partition = ?",
            [partition],
        ).fetchall()
        cur.unregister("wanted_leaves")
        found.update(((0, index), bytes(value)) for index, value in rows)
    if inner:
        levels, indexes = zip(*inner, strict=True)
        cur.register("wanted_nodes", pa.table({"level": levels, "idx": indexes}))
        rows = cur.execute(
            "SELECT level, idx, hash FROM log_nodes JOIN wanted_nodes USING (level, idx) "
            "WHERE kafka_partition = ?",
            [partition],
        ).fetchall()
        cur.unregister("wanted_nodes")
        found.update(((level, index), bytes(value)) for level, index, value in rows)
    return found


class PartitionTree:
    """One partition's stored tree, for roots and proofs at sizes it had."""

    def __init__(self, cur: duckdb.DuckDBPyConnection, partition: int) -> None:
        self._cur = cur
        self.partition = partition

    def _run(self, build):
        """Run a proof builder twice: once to learn which nodes it reads, then on them."""
        wanted: set[tuple[int, int]] = set()

        def record(level: int, index: int) -> bytes:
            wanted.add((level, index))
            return merkle.EMPTY_ROOT

        build(record)
        nodes = fetch_nodes(self._cur, self.partition, wanted)
        missing = wanted - nodes.keys()
        if missing:
            level, index = min(missing)
            raise MissingNode(
                f"partition {self.partition}: node (level {level}, index {index}) is missing"
            )
        return build(lambda level, index: nodes[(level, index)])

    def root(self, size: int) -> bytes:
        return self._run(lambda node: merkle.subtree_hash(0, size, node))

    def frontier(self, size: int) -> merkle.CompactRange:
        positions = merkle.frontier_positions(size)
        hashes = self._run(lambda node: [node(level, index) for level, index in positions])
        return merkle.CompactRange(size, hashes)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return self._run(lambda node: merkle.inclusion_proof(index, size, node))

    def consistency(self, old_size: int, new_size: int) -> list[bytes]:
        return self._run(lambda node: merkle.consistency_proof(old_size, new_size, node))


def load(cur: duckdb.DuckDBPyConnection, head: Head) -> recordlog.RecordLog:
    """The frontier of every partition at ``head``: what appending needs."""
    return recordlog.RecordLog(
        {partition: PartitionTree(cur, partition).frontier(size) for partition, size in head.cut}
    )
