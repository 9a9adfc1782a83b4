"""Recompute the ledger's RFC 6962 Merkle log from the stored events and find the first row
that was changed, inserted or deleted; prove growth since a kept checkpoint.

Works on any cursor, in one read transaction (a consistent snapshot even while the consumer
writes), so it serves both the CLI on a closed file and the API of a running server.

The walk reads the events in explicit seq ranges of ``CHUNK`` rows, each fetched in full
before the stored nodes of that range are looked up on the same cursor: a DuckDB cursor holds
one pending result, so streaming the events with ``fetchmany`` while issuing other queries on
it would end the stream after the first chunk. Memory stays bounded by ``CHUNK``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb

from provenance_ledger.ledger import merkle
from provenance_ledger.ledger.checkpoint import Checkpoint, origin_for
from provenance_ledger.ledger.rows import single_value
from provenance_ledger.ledger.writer import EVENT_JSON_COLUMNS

# Events per read of the walk (a module constant so tests can build ledgers several chunks long).
CHUNK = 4096

# A row whose columns disagree with the canonical event they were cut from was edited. A
# canonical that is no longer JSON (or whose time no longer parses) was edited too: it reads
# as NULL here, so the query reports it rather than failing.
_COLUMNS_AGREE = f"""
SELECT seq FROM (
    SELECT seq, source, id, type, subject, time, data, attributes, content_hash, valid,
           canonical->>'source' AS c_source, canonical->>'id' AS c_id,
           canonical->>'type' AS c_type, canonical->>'subject' AS c_subject,
           TRY_CAST(canonical->>'time' AS TIMESTAMPTZ) AS c_time,
           sha256(raw) AS c_hash {EVENT_JSON_COLUMNS.replace(" AS ", " AS c_")}
    FROM (
        SELECT * REPLACE (CASE WHEN json_valid(canonical) THEN canonical END AS canonical),
               canonical AS raw, json_valid(canonical) AS valid
        FROM events
    )
)
WHERE seq >= 0 AND seq < $head_size AND (
      NOT valid OR source IS DISTINCT FROM c_source OR id IS DISTINCT FROM c_id
   OR type IS DISTINCT FROM c_type OR subject IS DISTINCT FROM c_subject
   OR time IS DISTINCT FROM c_time OR content_hash IS DISTINCT FROM c_hash
   OR data::VARCHAR IS DISTINCT FROM c_data::VARCHAR
   OR attributes::VARCHAR IS DISTINCT FROM c_attributes::VARCHAR)
ORDER BY seq LIMIT 1
"""


@dataclass(frozen=True)
class Problem:
    seq: int
    kind: str  # changed | inserted | deleted
    detail: str
    row: dict[str, Any] | None = None


@dataclass
class Report:
    origin: str
    size: int
    root: bytes
    problem: Problem | None = None
    since: Checkpoint | None = None
    consistent: bool | None = None
    consistency_detail: str | None = None
    proof: list[bytes] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None and self.consistent is not False

    @property
    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self.origin, self.size, self.root)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "origin": self.origin,
            "size": self.size,
            "root": base64.b64encode(self.root).decode(),
            "checkpoint": self.checkpoint.body(),
            "problem": asdict(self.problem) if self.problem else None,
            "consistent": self.consistent,
            "consistency_detail": self.consistency_detail,
            "proof": [base64.b64encode(p).decode() for p in self.proof],
        }


def verify(cur: duckdb.DuckDBPyConnection, topic: str, since: Checkpoint | None = None) -> Report:
    cur.begin()
    try:
        return _verify(cur, origin_for(topic), since)
    finally:
        cur.rollback()


def _verify(cur: duckdb.DuckDBPyConnection, origin: str, since: Checkpoint | None) -> Report:
    head_size, head_root = _head(cur)
    wanted = _wanted_nodes(head_size, since)
    captured: dict[tuple[int, int], bytes] = {}
    tree = merkle.CompactRange()
    problem = _first_edited(cur, head_size)
    limit = problem.seq if problem else None
    found = _walk(cur, tree, head_size, wanted, captured, limit)
    if found is not None and (problem is None or found.seq <= problem.seq):
        problem = found
    if problem is None and tree.size < head_size:
        problem = Problem(tree.size, "deleted", f"rows from seq {tree.size} on are missing")
    if problem is None and tree.root() != head_root:
        problem = Problem(0, "changed", "the recomputed root differs from the stored tree head")
    report = Report(origin, tree.size, tree.root(), problem)
    if since is not None:
        _prove(report, since, captured)
    if problem is not None:
        report.problem = Problem(problem.seq, problem.kind, problem.detail, _row(cur, problem.seq))
    return report


def _head(cur: duckdb.DuckDBPyConnection) -> tuple[int, bytes]:
    row = cur.execute(
        "SELECT tree_size, root_hash FROM tree_heads ORDER BY tree_size DESC LIMIT 1"
    ).fetchone()
    return (0, merkle.EMPTY_ROOT) if row is None else (row[0], bytes(row[1]))


def _wanted_nodes(size: int, since: Checkpoint | None) -> set[tuple[int, int]]:
    """The perfect subtrees a consistency proof from ``since`` needs: its shape depends only
    on the two sizes, so it is known before the hashes are."""
    if since is None or not 0 < since.size <= size:
        return set()
    wanted: set[tuple[int, int]] = set(merkle.frontier_positions(since.size))

    def record(level: int, index: int) -> bytes:
        wanted.add((level, index))
        return merkle.EMPTY_ROOT

    merkle.consistency_proof(since.size, size, record)
    return wanted


def _first_edited(cur: duckdb.DuckDBPyConnection, head_size: int) -> Problem | None:
    """Rows beyond the tree head are reported as inserted by the walk."""
    row = cur.execute(_COLUMNS_AGREE, {"head_size": head_size}).fetchone()
    if row is None:
        return None
    return Problem(row[0], "changed", "its columns no longer match the event it was stored as")


def _walk(
    cur: duckdb.DuckDBPyConnection,
    tree: merkle.CompactRange,
    head_size: int,
    wanted: set[tuple[int, int]],
    captured: dict[tuple[int, int], bytes],
    limit: int | None,
) -> Problem | None:
    """Read the events in seq order, rebuilding the tree and checking every stored node."""
    for batch in _event_chunks(cur):
        stored = _stored_nodes(cur, tree.size, tree.size + len(batch))
        for seq, canonical, stored_leaf in batch:
            expected = tree.size
            if limit is not None and expected >= limit:
                return None
            if seq < expected or expected >= head_size:
                return Problem(seq, "inserted", f"not in the Merkle log (tree size {head_size})")
            if seq > expected:
                return Problem(expected, "deleted", f"missing: the next stored row is seq {seq}")
            leaf = merkle.leaf_hash(canonical.encode())
            if leaf != bytes(stored_leaf):
                return Problem(seq, "changed", "its canonical event no longer hashes to its leaf")
            if (0, seq) in wanted:
                captured[(0, seq)] = leaf
            for level, index, value in tree.append(leaf):
                if (level, index) in wanted:
                    captured[(level, index)] = value
                if stored.get((level, index)) != value:
                    first = index << level
                    last = first + (1 << level) - 1
                    return Problem(
                        first,
                        "changed",
                        f"the Merkle node over rows {first}..{last} does not match: a row in that "
                        "range was changed together with its leaf_hash, or rows were renumbered",
                    )
    return None


def _event_chunks(cur: duckdb.DuckDBPyConnection) -> Iterator[list[tuple[int, str, bytes]]]:
    """Every event row in seq order, in lists of at most ``CHUNK`` rows, each fetched in full
    (the caller queries the same cursor between chunks). A range with no rows skips ahead to
    the next stored seq, so a row forged far beyond the end costs one query, not a scan."""
    low = single_value(cur.execute("SELECT least(min(seq), 0) FROM events"))
    while low is not None:
        batch = cur.execute(
            "SELECT seq, canonical, leaf_hash FROM events WHERE seq >= ? AND seq < ? ORDER BY seq",
            [low, low + CHUNK],
        ).fetchall()
        if batch:
            yield batch
            low += CHUNK
        else:
            low = single_value(cur.execute("SELECT min(seq) FROM events WHERE seq >= ?", [low]))


def _stored_nodes(
    cur: duckdb.DuckDBPyConnection, first_leaf: int, end_leaf: int
) -> dict[tuple[int, int], bytes]:
    """Stored nodes completed by leaves [first_leaf, end_leaf): node (L, i) completes at leaf
    (i+1)·2^L - 1, so per level an idx range.

    The writer stores nodes in the order they complete, and a tree of n leaves has
    n - popcount(n) of them, so these are normally the rows from first_leaf -
    popcount(first_leaf) on: read by rowid, which DuckDB seeks to (a filter on level and idx
    scans the whole table, once per chunk). Only if those rows are not exactly the expected
    nodes (a file rewritten by other means) are the nodes looked up by key."""
    ranges: dict[int, tuple[int, int]] = {}
    for level in range(1, end_leaf.bit_length() + 1):
        low = -(-(first_leaf + 1) // (1 << level)) - 1
        high = -(-(end_leaf + 1) // (1 << level)) - 1
        if low < high:
            ranges[level] = (low, high)
    if not ranges:
        return {}
    start = first_leaf - first_leaf.bit_count()
    rows = cur.execute(
        "SELECT level, idx, hash FROM merkle_nodes WHERE rowid >= ? AND rowid < ?",
        [start, end_leaf - end_leaf.bit_count()],
    ).fetchall()
    nodes = {(level, idx): bytes(value) for level, idx, value in rows}
    expected = sum(high - low for low, high in ranges.values())
    if len(nodes) == expected and all(
        level in ranges and ranges[level][0] <= idx < ranges[level][1] for level, idx in nodes
    ):
        return nodes
    where = " OR ".join("(level = ? AND idx >= ? AND idx < ?)" for _ in ranges)
    params = [value for level, (low, high) in ranges.items() for value in (level, low, high)]
    rows = cur.execute(
        f"SELECT level, idx, hash FROM merkle_nodes WHERE {where}", params
    ).fetchall()
    return {(level, idx): bytes(value) for level, idx, value in rows}


def _prove(report: Report, since: Checkpoint, captured: dict[tuple[int, int], bytes]) -> None:
    report.since = since
    if since.origin != report.origin:
        report.consistent = False
        report.consistency_detail = (
            f"the checkpoint is for log {since.origin!r}, this ledger is {report.origin!r}"
        )
        return
    if since.size > report.size:
        report.consistent = False
        report.consistency_detail = (
            f"the ledger shrank: the checkpoint has {since.size} events, the ledger {report.size}"
        )
        return

    def node(level: int, index: int) -> bytes:
        return captured.get((level, index), merkle.EMPTY_ROOT)

    proof = merkle.consistency_proof(since.size, report.size, node) if since.size else []
    report.proof = proof
    report.consistent = merkle.verify_consistency(
        since.size, report.size, since.root, report.root, proof
    )
    report.consistency_detail = (
        f"the ledger only grew since the checkpoint of size {since.size}"
        if report.consistent
        else f"the first {since.size} events are not the ones the checkpoint signed off: "
        "the ledger was rewritten since"
    )


def _row(cur: duckdb.DuckDBPyConnection, seq: int) -> dict[str, Any] | None:
    found = cur.execute(
        "SELECT seq, source, id, type, time::VARCHAR, kafka_partition, kafka_offset, "
        "canonical FROM events WHERE seq = ?",
        [seq],
    ).fetchone()
    if found is None:
        return None
    names = ("seq", "source", "id", "type", "time", "kafka_partition", "kafka_offset", "canonical")
    return dict(zip(names, found, strict=True))
