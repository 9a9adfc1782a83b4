"""Which (source, id) keys the ledger holds, answered without scanning ``events``.

Deduplication asks this for every batch. A join against ``events`` costs time linear in the
ledger's size; this keeps DuckDB's 64-bit ``hash(source, id)`` of every stored key in memory
(8 bytes a key: 80 MB at 10 million events) as a few sorted numpy runs. A batch key whose hash
is absent is certainly new; the few that match (a redelivered batch, or a hash collision) are
looked up in ``events`` by the caller.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

HASH_SQL = "SELECT hash(source, id) AS h FROM {table}"


def key_hashes(cur: duckdb.DuckDBPyConnection, keys: pa.Table) -> np.ndarray:
    """DuckDB's hash of each (source, id) row of ``keys``, in row order."""
    cur.register("batch_key_hashes", keys)
    hashes = cur.execute(HASH_SQL.format(table="batch_key_hashes")).fetchnumpy()["h"]
    cur.unregister("batch_key_hashes")
    return np.asarray(hashes, dtype=np.uint64)


class KeyIndex:
    """Sorted runs of key hashes; a run merges with the next when it is not much smaller, so
    there are O(log n) runs and each hash is copied O(log n) times."""

    def __init__(self, runs: list[np.ndarray] | None = None) -> None:
        self._runs: list[np.ndarray] = runs or []

    @classmethod
    def load(cls, cur: duckdb.DuckDBPyConnection) -> KeyIndex:
        hashes = cur.execute(HASH_SQL.format(table="events")).fetchnumpy()["h"]
        stored = np.sort(np.asarray(hashes, dtype=np.uint64))
        return cls([stored] if len(stored) else [])

    def __len__(self) -> int:
        return sum(len(run) for run in self._runs)

    def maybe_known(self, hashes: np.ndarray) -> np.ndarray:
        """A bool per hash: True if a stored key may have it (check those in ``events``)."""
        # Searching in sorted order walks each run forward: far fewer cache misses.
        order = np.argsort(hashes)
        needles = hashes[order]
        found = np.zeros(len(hashes), dtype=bool)
        for run in self._runs:
            at = np.searchsorted(run, needles)
            found[order] |= run[np.minimum(at, len(run) - 1)] == needles
        return found

    def add(self, hashes: np.ndarray) -> None:
        """Record the hashes of keys just committed."""
        if not len(hashes):
            return
        self._runs.append(np.sort(hashes.astype(np.uint64, copy=False)))
        while len(self._runs) > 1 and len(self._runs[-2]) <= 2 * len(self._runs[-1]):
            last = self._runs.pop()
            # Stable sort is a merge of the two sorted runs: linear time.
            self._runs[-1] = np.sort(np.concatenate([self._runs[-1], last]), kind="stable")
