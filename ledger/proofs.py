"""Inclusion proofs: one record of the log (an accepted event, a duplicate or a dead letter)
with the RFC 6962 audit paths from its leaf to its partition's root and from that partition's
head leaf to the log's root, against the log's latest head (ledger/recordlog.py).

:func:`check` verifies such a proof against a checkpoint with nothing but the proof: an
auditor runs it offline (``provledger verify-proof``), with no access to the ledger.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import duckdb

from provenance_ledger.ledger import logstore, merkle, recordlog
from provenance_ledger.ledger.checkpoint import Checkpoint, origin_for
from provenance_ledger.schemas.codec import DecodeError, decode_record
from provenance_ledger.schemas.errors import Finding, UsageProblem

FORMAT = "provledger-inclusion-proof/v1"
MAX_PROOF_BYTES = 16 << 20


class NotInLog(LookupError, UsageProblem):
    """No record of the log matches what was asked for."""


class ProofRejected(ValueError, Finding):
    """The proof does not show the record in the log the checkpoint signed off."""


class NotAProof(ValueError, UsageProblem):
    """The file is not an inclusion proof."""


@dataclass(frozen=True)
class Wanted:
    """A record by the event it carries, or by its place in the topic."""

    source: str | None = None
    id: str | None = None
    partition: int | None = None
    offset: int | None = None

    def __post_init__(self) -> None:
        if not (
            (self.source and self.id) or (self.partition is not None and self.offset is not None)
        ):
            raise UsageProblem("name the record: source and id, or partition and offset")


def prove(cur: duckdb.DuckDBPyConnection, topic: str, wanted: Wanted) -> tuple[dict, Checkpoint]:
    """The proof of the record ``wanted`` names against the latest head, and that head."""
    cur.begin()
    try:
        head = logstore.latest_head(cur)
        found = _record(cur, wanted, head)
        partition, index = found["partition"], found["index"]
        sizes = dict(head.cut)
        path = logstore.PartitionTree(cur, partition).inclusion(index, sizes[partition])
        position = [p for p, _ in head.cut].index(partition)
        heads = [(p, size, logstore.PartitionTree(cur, p).root(size)) for p, size in head.cut]
        partition_root = heads[position][2]
        head_leaves = [recordlog.head_leaf(*h) for h in heads]
        head_path = merkle.inclusion_proof(
            position, len(head_leaves), merkle.nodes_from_leaves(head_leaves)
        )
    finally:
        cur.rollback()
    checkpoint = Checkpoint(origin_for(topic), head.size, head.root, head.cut)
    proof = {
        "format": FORMAT,
        "origin": checkpoint.origin,
        "record": found,
        "partition_proof": {
            "size": sizes[partition],
            "root": _b64(partition_root),
            "path": [_b64(node) for node in path],
        },
        "head_proof": {
            "index": position,
            "size": len(head_leaves),
            "path": [_b64(node) for node in head_path],
        },
    }
    return proof, checkpoint


def _record(cur: duckdb.DuckDBPyConnection, wanted: Wanted, head: logstore.Head) -> dict:
    partition, offset = _place(cur, wanted)
    rows = cur.execute(
        "SELECT idx, entry, leaf_hash, outcome, value, event_seq FROM log_records "
        "WHERE kafka_partition = ? AND kafka_offset = ?",
        [partition, offset],
    ).fetchall()
    if not rows or rows[0][0] >= dict(head.cut).get(partition, 0):
        raise NotInLog(f"no record of the log is {_named(wanted)}")
    index, entry, leaf, outcome, value, seq = rows[0]
    event = None
    if seq is not None:
        seq, source, id_, type_, canonical = cur.execute(
            "SELECT seq, source, id, type, canonical FROM events WHERE seq = ?", [seq]
        ).fetchall()[0]
        event = {"seq": seq, "source": source, "id": id_, "type": type_}
        value = value if value is not None else canonical.encode()
    dead = cur.execute(
        "SELECT seq, reason, detail, source, id, type FROM dead_letters "
        "WHERE kafka_partition = ? AND kafka_offset = ? ORDER BY seq DESC LIMIT 1",
        [partition, offset],
    ).fetchall()
    names = ("seq", "reason", "detail", "source", "id", "type")
    return {
        "partition": partition,
        "offset": offset,
        "index": index,
        "entry": _b64(bytes(entry)),
        "leaf_hash": _b64(bytes(leaf)),
        "outcome": outcome,
        # The bytes the entry's digest is of, when the ledger has them (an accepted event's).
        "value": _b64(bytes(value)) if event is not None else None,
        "event": event,
        "dead_letter": dict(zip(names, dead[0], strict=True)) if dead else None,
    }


def _place(cur: duckdb.DuckDBPyConnection, wanted: Wanted) -> tuple[int, int]:
    """(partition, offset) of the record: the accepted event's, else the latest dead letter's
    under that name."""
    if wanted.partition is not None and wanted.offset is not None:
        return wanted.partition, wanted.offset
    for query in (
        "SELECT kafka_partition, kafka_offset FROM events WHERE source = ? AND id = ?",
        "SELECT kafka_partition, kafka_offset FROM dead_letters WHERE source = ? AND id = ? "
        "AND kafka_partition IS NOT NULL ORDER BY seq DESC LIMIT 1",
    ):
        rows = cur.execute(query, [wanted.source, wanted.id]).fetchall()
        if rows and rows[0][0] is not None:
            return rows[0][0], rows[0][1]
    raise NotInLog(f"no record of the log is {_named(wanted)}")


def _named(wanted: Wanted) -> str:
    if wanted.source is not None:
        return f"the event (source {wanted.source!r}, id {wanted.id!r})"
    return f"partition {wanted.partition} offset {wanted.offset}"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def load(text: str | bytes) -> dict:
    """A proof document, checked for shape (not for truth: that is :func:`check`)."""
    try:
        proof = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise NotAProof(f"not an inclusion proof: not JSON ({exc})") from exc
    if not isinstance(proof, dict) or proof.get("format") != FORMAT:
        raise NotAProof(f"not an inclusion proof: its format is not {FORMAT!r}")
    return proof


def check(proof: dict, checkpoint: Checkpoint) -> str:
    """Verify ``proof`` against ``checkpoint`` (whose signature the caller checked); what it
    proves, in one line. Raises :class:`ProofRejected` or :class:`NotAProof`."""
    try:
        return _check(proof, checkpoint)
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        if isinstance(exc, ProofRejected):
            raise
        raise NotAProof(f"not an inclusion proof: {type(exc).__name__} {exc}") from exc


def _check(proof: dict, checkpoint: Checkpoint) -> str:
    record, partition_proof, head_proof = (
        proof["record"],
        proof["partition_proof"],
        proof["head_proof"],
    )
    if proof["origin"] != checkpoint.origin:
        raise ProofRejected(f"the proof is for log {proof['origin']!r}, not {checkpoint.origin!r}")
    entry = _unb64(record["entry"])
    leaf = merkle.leaf_hash(entry)
    partition, offset = recordlog.entry_position(entry)
    if (partition, offset) != (record["partition"], record["offset"]):
        raise ProofRejected("the entry names another partition or offset than the record")
    value = record.get("value")
    if value is not None and hashlib.sha256(_unb64(value)).digest() != recordlog.value_digest(
        entry
    ):
        raise ProofRejected("the value shown is not the one the entry commits to")
    sizes = dict(checkpoint.partitions)
    size = int(partition_proof["size"])
    if sizes.get(partition) != size:
        raise ProofRejected(
            f"the proof is for partition {partition} at {size} records; the checkpoint has "
            f"{sizes.get(partition, 0)}: get a proof against this checkpoint"
        )
    root = _unb64(partition_proof["root"])
    path = [_unb64(node) for node in partition_proof["path"]]
    if not merkle.verify_inclusion(int(record["index"]), size, leaf, path, root):
        raise ProofRejected("the record's audit path does not lead to its partition's root")
    order = [p for p, _ in checkpoint.partitions]
    position, count = int(head_proof["index"]), int(head_proof["size"])
    if (position, count) != (order.index(partition), len(order)):
        raise ProofRejected("the partition's place among the heads is not the checkpoint's")
    head_path = [_unb64(node) for node in head_proof["path"]]
    if not merkle.verify_inclusion(
        position, count, recordlog.head_leaf(partition, size, root), head_path, checkpoint.root
    ):
        raise ProofRejected("the partition's head does not lead to the checkpoint's root")
    return _what(record, checkpoint)


def _what(record: dict[str, Any], checkpoint: Checkpoint) -> str:
    """What the proof shows: the event only as far as the value the entry commits to carries
    it; the outcome and a dead letter's reason are the ledger's word, and said so."""
    where = f"partition {record['partition']} offset {record['offset']}"
    said = f"the ledger says: {record['outcome']}"
    if record["dead_letter"]:
        dead = record["dead_letter"]
        said += f", refused ({dead['reason']}: {dead['detail']})"
    if record.get("value") is not None:
        event = _carried_event(record)
        what = f"event {event.source} {event.id} ({event.type}) from its value"
    else:
        what = "a record whose value the ledger did not keep"
    return f"{where} is in the log of {checkpoint.size} records: {what}; {said}"


def _carried_event(record: dict[str, Any]) -> Any:
    """The event the record's value decodes to, which must be the one the proof names."""
    decoded = decode_record(recordlog.parse_entry(_unb64(record["entry"]), _unb64(record["value"])))
    if isinstance(decoded, DecodeError):
        raise ProofRejected(f"the record's value is not an event ({decoded.detail})")
    event = decoded.event
    named = record.get("event") or {}
    if (named.get("source"), named.get("id"), named.get("type")) != (
        event.source,
        event.id,
        event.type,
    ):
        raise ProofRejected("the event the proof names is not the one the record carries")
    return event


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise TypeError("a hash or entry is not a base64 string")
    return base64.b64decode(text, validate=True)
