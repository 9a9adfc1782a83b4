"""The ledger's log, defined by the topic rather than by the ledger that read it.

Each partition of the topic has its own RFC 6962 tree (ledger/merkle.py) over every record
the ledger consumed from it, in offset order: accepted events, duplicates and dead letters
alike. Kafka fixes that order, so every ledger that consumed the same records (a replica, a
rebuild, a ledger that crashed and resumed) has the same partition trees whatever the
interleaving of partitions it saw. The log's head is the RFC 6962 root over one *head leaf*
per non-empty partition, in partition order; its size is the number of records.

Encodings (integers big-endian; ``field(x)`` is ``u32 0xFFFFFFFF`` for null, else
``u32 len(x) || x``):

* record entry: ``u32 partition || u64 offset || field(key) || u32 header count ||
  (field(name) || field(value)) per header || value digest``, where the value digest is
  ``0x00`` for a null value and ``0x01 || SHA-256(value)`` otherwise. The digest, not the
  value, so that a record refused for carrying a secret is in the log without the ledger
  keeping its bytes. The leaf is ``SHA-256(0x00 || entry)``.
* head leaf: ``u32 partition || u64 partition size || partition root``.
"""

from __future__ import annotations

import hashlib
import itertools
import struct
from collections.abc import Iterable

from provenance_ledger.ledger import merkle
from provenance_ledger.schemas.codec import KafkaRecord

NULL_FIELD = struct.pack(">I", 0xFFFFFFFF)
NO_VALUE = b"\x00"
VALUE_DIGEST = b"\x01"
DIGEST_SIZE = 32

Cut = tuple[tuple[int, int], ...]
"""(partition, size) of each non-empty partition, in partition order."""

PartitionHead = tuple[int, int, bytes]
"""(partition, size, root)."""


class CutError(ValueError):
    """A partitions line that is not ``p:size`` pairs in increasing partition order."""


_POSITION = struct.Struct(">IQ")
_LENGTH = struct.Struct(">I")


def _field(value: bytes | None) -> bytes:
    if value is None:
        return NULL_FIELD
    return _LENGTH.pack(len(value)) + value


def _header_fields(name: str, value: bytes | None) -> bytes:
    # kafka-python hands header names as str; surrogatepass keeps any of them encodable.
    return _field(name.encode("utf-8", "surrogatepass")) + _field(value)


# A header's encoding, by (name, value); bounded, as values such as trace ids never repeat.
_HEADER_FIELDS: dict[tuple[str, bytes | None], bytes] = {}
MAX_CACHED_HEADERS = 4096


def record_entry(record: KafkaRecord, digest: bytes | None = None) -> bytes:
    """The bytes of a record's leaf (see the module docstring). Runs for every record the
    ledger consumes: precompiled structs, one join. ``digest``: the SHA-256 of the record's
    value when the caller already has it (the writer: an event's content hash when its value
    is its canonical bytes), else it is computed here."""
    headers, value = record.headers, record.value
    parts = [
        _POSITION.pack(record.partition, record.offset),
        _field(record.key),
        _LENGTH.pack(len(headers)),
    ]
    for name, header_value in headers:
        # Most records carry the same few headers (content-type, ce_*): encoded once each.
        header = (name, header_value)
        encoded = _HEADER_FIELDS.get(header)
        if encoded is None:
            encoded = _header_fields(name, header_value)
            if len(_HEADER_FIELDS) < MAX_CACHED_HEADERS:
                _HEADER_FIELDS[header] = encoded
        parts.append(encoded)
    if value is None:
        parts.append(NO_VALUE)
    else:
        parts.append(VALUE_DIGEST + (digest or hashlib.sha256(value).digest()))
    return b"".join(parts)


def value_digest(entry: bytes) -> bytes | None:
    """The SHA-256 of the record's value an entry commits to (None for a null value), read by
    walking the entry's fields: its last bytes alone could be a header's. Raises ValueError
    for bytes that are not an entry."""
    return _fields(entry)[4]


def entry_position(entry: bytes) -> tuple[int, int]:
    """(partition, offset) an entry names."""
    partition, offset = struct.unpack_from(">IQ", entry)
    return partition, offset


def parse_entry(entry: bytes, value: bytes | None) -> KafkaRecord:
    """The record an entry was made from, given its value (whose digest the caller checks);
    the topic is not in the entry. Raises ValueError for bytes that are not an entry."""
    partition, offset, key, headers, _ = _fields(entry)
    # A header without a value reads back as empty: what decoding needs of a header is text.
    return KafkaRecord(
        "", partition, offset, key, value, tuple((name, v or b"") for name, v in headers)
    )


def _fields(
    entry: bytes,
) -> tuple[int, int, bytes | None, tuple[tuple[str, bytes | None], ...], bytes | None]:
    try:
        partition, offset = struct.unpack_from(">IQ", entry)
        key, at = _read_field(entry, 12)
        (count,) = struct.unpack_from(">I", entry, at)
        at += 4
        headers = []
        for _ in range(count):
            name, at = _read_field(entry, at)
            header_value, at = _read_field(entry, at)
            headers.append(((name or b"").decode("utf-8", "surrogatepass"), header_value))
    except struct.error as exc:
        raise ValueError(f"not a record entry: {exc}") from exc
    tail = entry[at:]
    if tail == NO_VALUE:
        return partition, offset, key, tuple(headers), None
    if len(tail) == 1 + DIGEST_SIZE and tail[:1] == VALUE_DIGEST:
        return partition, offset, key, tuple(headers), tail[1:]
    raise ValueError("not a record entry: it does not end with its value digest")


def _read_field(entry: bytes, at: int) -> tuple[bytes | None, int]:
    (length,) = struct.unpack_from(">I", entry, at)
    at += 4
    if length == 0xFFFFFFFF:
        return None, at
    if at + length > len(entry):
        raise ValueError("not a record entry: a field runs past its end")
    return entry[at : at + length], at + length


def head_leaf(partition: int, size: int, root: bytes) -> bytes:
    return merkle.leaf_hash(struct.pack(">IQ", partition, size) + root)


def head_root(heads: Iterable[PartitionHead]) -> bytes:
    """The log's root: the RFC 6962 root over the head leaves of the non-empty partitions."""
    ordered = sorted(head for head in heads if head[1] > 0)
    return merkle.root_from_leaves([head_leaf(*head) for head in ordered])


def format_cut(cut: Cut) -> str:
    return " ".join(f"{partition}:{size}" for partition, size in cut)


def parse_cut(text: str) -> Cut:
    cut = []
    for pair in text.split():
        partition, _, size = pair.partition(":")
        if not (partition.isascii() and partition.isdigit() and size.isascii() and size.isdigit()):
            raise CutError(f"{pair!r} is not partition:size")
        cut.append((int(partition), int(size)))
    if any(a[0] >= b[0] for a, b in itertools.pairwise(cut)) or any(s == 0 for _, s in cut):
        raise CutError("partitions must be listed once each, in increasing order, none empty")
    return tuple(cut)


class RecordLog:
    """The frontier of every partition's tree: enough to keep appending and to name the head."""

    __slots__ = ("_trees",)

    def __init__(self, trees: dict[int, merkle.CompactRange] | None = None) -> None:
        self._trees = trees or {}

    def copy(self) -> RecordLog:
        return RecordLog({partition: tree.copy() for partition, tree in self._trees.items()})

    def append(self, partition: int, leaf: bytes) -> tuple[int, list[merkle.Node]]:
        """Add a record's leaf to its partition: its index there, and the nodes it completes."""
        return self.extend(partition, (leaf,))

    def extend(self, partition: int, leaves: Iterable[bytes]) -> tuple[int, list[merkle.Node]]:
        """Add records' leaves to their partition, in order: the first one's index there, and
        the nodes they complete."""
        tree = self._trees.get(partition)
        if tree is None:
            tree = self._trees[partition] = merkle.CompactRange()
        first = tree.size
        return first, tree.extend(leaves)

    @property
    def size(self) -> int:
        return sum(tree.size for tree in self._trees.values())

    def cut(self) -> Cut:
        return tuple(
            (partition, tree.size) for partition, tree in sorted(self._trees.items()) if tree.size
        )

    def heads(self) -> list[PartitionHead]:
        return [
            (partition, tree.size, tree.root())
            for partition, tree in sorted(self._trees.items())
            if tree.size
        ]

    def root(self) -> bytes:
        return head_root(self.heads())
