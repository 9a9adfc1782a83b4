"""RFC 6962 Merkle trees (the structure of Certificate Transparency and Sigstore's Rekor, so
standard tools can check them): the ledger's log has one per partition (ledger/recordlog.py).

Leaf hash = SHA-256(0x00 || entry), node hash = SHA-256(0x01 || left || right). Proofs are
built per RFC 6962 §2.1 and verified per RFC 9162 §2.1.3.2 / §2.1.4.2. Proof builders take a
``NodeFn`` giving the hash of any *perfect* subtree (level, index), so the same code serves an
in-memory list of leaves and the stored ``log_nodes`` table (ledger/logstore.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from provenance_ledger.schemas.errors import UsageProblem

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeFn = Callable[[int, int], bytes]
"""(level, index) → hash of the perfect subtree over leaves [index·2^level, (index+1)·2^level)."""

Node = tuple[int, int, bytes]


class ProofError(ValueError, UsageProblem):
    """A proof was asked for sizes or indexes the tree cannot have."""


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two smaller than ``size`` (size ≥ 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def subtree_hash(start: int, end: int, node: NodeFn) -> bytes:
    """MTH(D[start:end]) for the ranges RFC 6962 recursion visits (start aligned to a split)."""
    size = end - start
    if size == 0:
        return EMPTY_ROOT
    if size & (size - 1) == 0 and start % size == 0:
        level = size.bit_length() - 1
        return node(level, start >> level)
    k = _split(size)
    return node_hash(subtree_hash(start, start + k, node), subtree_hash(start + k, end, node))


def root_from_leaves(leaves: Sequence[bytes]) -> bytes:
    """The root over leaf hashes held in memory (for tests and small trees)."""
    tree = CompactRange()
    for leaf in leaves:
        tree.append(leaf)
    return tree.root()


def nodes_from_leaves(leaves: Sequence[bytes]) -> NodeFn:
    """A NodeFn over leaf hashes held in memory."""

    def node(level: int, index: int) -> bytes:
        start = index << level
        return root_from_leaves(leaves[start : start + (1 << level)])

    return node


def inclusion_proof(index: int, size: int, node: NodeFn) -> list[bytes]:
    """RFC 6962 §2.1.1 PATH(index, D[0:size])."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")

    def path(m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*path(m, start, start + k), subtree_hash(start + k, end, node)]
        return [*path(m - k, start + k, end), subtree_hash(start, start + k, node)]

    return path(index, 0, size)


def consistency_proof(old_size: int, new_size: int, node: NodeFn) -> list[bytes]:
    """RFC 6962 §2.1.2 PROOF(old_size, D[0:new_size])."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []

    def subproof(m: int, start: int, end: int, complete: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if complete else [subtree_hash(start, end, node)]
        k = _split(n)
        if m <= k:
            return [*subproof(m, start, start + k, complete), subtree_hash(start + k, end, node)]
        return [*subproof(m - k, start + k, end, False), subtree_hash(start, start + k, node)]

    return subproof(old_size, 0, new_size, True)


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2."""
    if not 0 <= index < size or any(len(p) != HASH_SIZE for p in proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: the tree of new_size extends the tree of old_size unchanged."""
    if old_size > new_size or any(len(p) != HASH_SIZE for p in proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


def frontier_positions(size: int) -> list[tuple[int, int]]:
    """(level, index) of the perfect subtrees a tree of ``size`` leaves decomposes into,
    left to right: the only nodes needed to keep appending."""
    positions = []
    start = 0
    for level in reversed(range(size.bit_length())):
        if size >> level & 1:
            positions.append((level, start >> level))
            start += 1 << level
    return positions


class CompactRange:
    """The frontier of an append-only tree: one hash per perfect subtree, left to right.

    Appending a leaf returns the perfect subtrees it completes (level ≥ 1), which the
    ledger stores so that proofs later need O(log n) look-ups, never a rescan.
    """

    __slots__ = ("_hashes", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != bin(size).count("1"):
            raise ValueError(f"a tree of size {size} has {bin(size).count('1')} frontier hashes")
        self.size = size
        self._hashes = list(hashes)

    def copy(self) -> CompactRange:
        return CompactRange(self.size, self._hashes)

    def append(self, leaf: bytes) -> list[Node]:
        return self.extend((leaf,))

    def extend(self, leaves: Iterable[bytes]) -> list[Node]:
        """Append the leaves in order; the perfect subtrees they complete, in order. One loop
        over a batch's leaves, node hashes inlined: the writer appends every record."""
        completed: list[Node] = []
        hashes, size, sha256 = self._hashes, self.size, hashlib.sha256
        for leaf in leaves:
            index, value, level = size, leaf, 0
            while index & 1:
                value = sha256(NODE_PREFIX + hashes.pop() + value).digest()
                index >>= 1
                level += 1
                completed.append((level, index, value))
            hashes.append(value)
            size += 1
        self.size = size
        return completed

    def root(self) -> bytes:
        if not self._hashes:
            return EMPTY_ROOT
        value = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            value = node_hash(left, value)
        return value
