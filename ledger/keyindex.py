"""Which (source, id) keys the ledger holds, and at which seqs, answered without scanning
``events``.

Deduplication asks this for every batch, and it is what keeps ``(source, id)`` unique: the
file has no index on those columns (an ART index on two strings took 62 MB at 1M events and
~6 µs of every insert; docs/benchmarks.md). This keeps DuckDB's 64-bit ``hash(source, id)``
of every stored key with its event seq in memory (16 bytes a key: 160 MB at 10 million
events) as a few runs sorted by hash. A batch key whose hash is absent is certainly new; the
seqs of the few that match (a redelivered batch, or a hash collision) are read from
``events`` through its primary key, and their keys compared.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

# A key's hash, in SQL: the batch's keys and the stored ones must be hashed alike.
KEY_HASH = "hash(source, id)"


def key_hashes(cur: duckdb.DuckDBPyConnection, keys: pa.Table) -> np.ndarray:
    """DuckDB's hash of each (source, id) row of ``keys``, in row order."""
    cur.register("batch_key_hashes", keys)
    hashes = cur.execute(f"SELECT {KEY_HASH} AS h FROM batch_key_hashes").fetchnumpy()["h"]
    cur.unregister("batch_key_hashes")
    return np.asarray(hashes, dtype=np.uint64)


class KeyIndex:
    """Runs of (key hash, seq) sorted by hash; a run merges with the next when it is not much
    smaller, so there are O(log n) runs and each entry is copied O(log n) times."""

    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []

    @classmethod
    def load(cls, cur: duckdb.DuckDBPyConnection) -> KeyIndex:
        stored = cur.execute(f"SELECT {KEY_HASH} AS h, seq FROM events").fetchnumpy()
        index = cls()
        index.add(np.asarray(stored["h"], np.uint64), np.asarray(stored["seq"], np.int64))
        return index

    def __len__(self) -> int:
        return sum(len(hashes) for hashes, _ in self._runs)

    def seqs_of(self, hashes: np.ndarray) -> np.ndarray:
        """The seqs of every stored key whose hash is among ``hashes`` (sorted): the events
        a batch with those key hashes may repeat. Empty for a batch of new keys."""
        needles = np.unique(hashes)
        found = [np.zeros(0, np.int64)]
        for run_hashes, run_seqs in self._runs:
            first = np.searchsorted(run_hashes, needles, side="left")
            past = np.searchsorted(run_hashes, needles, side="right")
            for start, end in zip(first[past > first], past[past > first], strict=True):
                found.append(run_seqs[start:end])
        return np.sort(np.concatenate(found))

    def add(self, hashes: np.ndarray, seqs: np.ndarray) -> None:
        """Record the keys just committed: their hashes and their events' seqs."""
        if not len(hashes):
            return
        order = np.argsort(hashes, kind="stable")
        self._runs.append((hashes[order].astype(np.uint64), seqs[order].astype(np.int64)))
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= 2 * len(self._runs[-1][0]):
            last_hashes, last_seqs = self._runs.pop()
            kept_hashes, kept_seqs = self._runs[-1]
            merged = np.concatenate([kept_hashes, last_hashes])
            # A stable sort of two sorted runs is a merge: linear time.
            order = np.argsort(merged, kind="stable")
            self._runs[-1] = (merged[order], np.concatenate([kept_seqs, last_seqs])[order])
