"""Check the ledger file against its log (ledger/recordlog.py) and find the first changed,
inserted or deleted row; prove the log only grew since a kept checkpoint.

Two walks, in one read transaction (a consistent snapshot even while the consumer writes), so
it serves both the CLI on a closed file and the API of a running server:

* the log: each partition's records in index order, their leaves recomputed from the stored
  entries and every stored node and the head compared (ledger/verify_log.py);
* the rows: every event row must agree with its canonical JSON and be the value of an
  accepted record of the log, and no two may share a (source, id); every dead letter must
  name a record of the log whose value has its digest (ledger/verify_rows.py).
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb

from provenance_ledger.ledger import logstore, merkle, recordlog
from provenance_ledger.ledger.checkpoint import Checkpoint, origin_for
from provenance_ledger.ledger.verify_log import Problem, walk_log
from provenance_ledger.ledger.verify_rows import first_bad_row


@dataclass
class PartitionProof:
    """RFC 6962 consistency of one partition's tree from the checkpoint's size to now."""

    partition: int
    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    proof: list[bytes]

    def to_json(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "old_size": self.old_size,
            "new_size": self.new_size,
            "old_root": _b64(self.old_root),
            "new_root": _b64(self.new_root),
            "proof": [_b64(p) for p in self.proof],
        }


@dataclass
class Report:
    origin: str
    size: int
    root: bytes
    events: int = 0
    partitions: recordlog.Cut = ()
    problem: Problem | None = None
    since: Checkpoint | None = None
    consistent: bool | None = None
    consistency_detail: str | None = None
    proof: list[PartitionProof] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None and self.consistent is not False

    @property
    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self.origin, self.size, self.root, self.partitions)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "origin": self.origin,
            "size": self.size,
            "events": self.events,
            "root": _b64(self.root),
            "checkpoint": self.checkpoint.body(),
            "problem": asdict(self.problem) if self.problem else None,
            "consistent": self.consistent,
            "consistency_detail": self.consistency_detail,
            "proof": [part.to_json() for part in self.proof],
        }


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def verify(cur: duckdb.DuckDBPyConnection, topic: str, since: Checkpoint | None = None) -> Report:
    cur.begin()
    try:
        return _verify(cur, origin_for(topic), since)
    finally:
        cur.rollback()


def _verify(cur: duckdb.DuckDBPyConnection, origin: str, since: Checkpoint | None) -> Report:
    head = logstore.latest_head(cur)
    walked = walk_log(cur, head)
    problem = walked.problem or first_bad_row(cur, head.events)
    report = Report(origin, head.size, head.root, head.events, head.cut, problem)
    if since is not None and walked.problem is None:
        _prove(cur, report, since, walked.roots)
    elif since is not None:
        report.since, report.consistent = since, False
        report.consistency_detail = "the log itself does not verify, so nothing can be proven"
    return report


def _prove(
    cur: duckdb.DuckDBPyConnection, report: Report, since: Checkpoint, roots: dict[int, bytes]
) -> None:
    report.since = since
    detail = _incomparable(report, since)
    if detail is None:
        try:
            # Every partition of the log now, those empty at the checkpoint from size 0: a
            # verifier rebuilds both roots from these parts alone.
            kept = dict(since.partitions)
            report.proof = [
                _partition_proof(cur, partition, kept.get(partition, 0), size, roots)
                for partition, size in report.partitions
            ]
        except logstore.MissingNode as exc:
            detail = f"a node the proof needs is missing from the ledger ({exc})"
    if detail is None:
        old_heads = [(p.partition, p.old_size, p.old_root) for p in report.proof]
        if recordlog.head_root(old_heads) != since.root:
            detail = (
                f"the first records of the checkpoint (size {since.size}) are not the ones it "
                "signed off: the ledger's log was rewritten since"
            )
        elif not all(_consistent(part) for part in report.proof):
            detail = "a partition's tree does not extend the one the checkpoint signed off"
    report.consistent = detail is None
    report.consistency_detail = detail or (
        f"the ledger only grew since the checkpoint of size {since.size}"
    )


def _incomparable(report: Report, since: Checkpoint) -> str | None:
    if since.origin != report.origin:
        return f"the checkpoint is for log {since.origin!r}, this ledger is {report.origin!r}"
    if since.size and not since.partitions:
        return (
            "the checkpoint has no partitions line: it is of the log before the log was "
            "defined by the topic, which a migrated ledger cannot prove"
        )
    now = dict(report.partitions)
    for partition, size in since.partitions:
        if now.get(partition, 0) < size:
            return (
                f"the ledger shrank: the checkpoint has {size} records of partition "
                f"{partition}, the ledger {now.get(partition, 0)}"
            )
    return None


def _partition_proof(
    cur: duckdb.DuckDBPyConnection,
    partition: int,
    old_size: int,
    new_size: int,
    roots: dict[int, bytes],
) -> PartitionProof:
    tree = logstore.PartitionTree(cur, partition)
    return PartitionProof(
        partition,
        old_size,
        new_size,
        tree.root(old_size),
        roots[partition],
        tree.consistency(old_size, new_size),
    )


def _consistent(part: PartitionProof) -> bool:
    return merkle.verify_consistency(
        part.old_size, part.new_size, part.old_root, part.new_root, part.proof
    )
