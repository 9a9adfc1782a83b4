"""The key index gives the seqs of every stored key whose hash is asked for, and none for new
hashes: the writer reads those seqs' keys to deduplicate, so a seq missing here would let a
repeated event in twice."""

import numpy as np

from provenance_ledger.ledger.keyindex import KeyIndex


def _filled(hashes: np.ndarray, batch: int = 1_000) -> KeyIndex:
    """An index fed in batches, as write_batch feeds it: seq i holds hashes[i]."""
    index = KeyIndex()
    for start in range(0, len(hashes), batch):
        chunk = hashes[start : start + batch]
        index.add(chunk, np.arange(start, start + len(chunk), dtype=np.int64))
    return index


def test_every_stored_hash_gives_its_seq_and_new_hashes_give_none() -> None:
    rng = np.random.default_rng(7)
    stored = rng.integers(0, 2**63, size=20_000, dtype=np.uint64)
    index = _filled(stored)
    assert len(index) == len(stored)
    assert len(index._runs) <= 16  # merged into O(log n) sorted runs
    assert index.seqs_of(stored[::-1].copy()).tolist() == list(range(len(stored)))
    fresh = np.setdiff1d(rng.integers(0, 2**63, size=5_000, dtype=np.uint64), stored)
    assert len(index.seqs_of(fresh)) == 0
    mixed = np.concatenate([fresh[:3], stored[[17, 12_345]]])
    assert index.seqs_of(mixed).tolist() == [17, 12_345]


def test_keys_sharing_a_hash_all_come_back_across_runs_and_merges() -> None:
    # A 64-bit collision is rare but legal: every key with the hash must be compared.
    rng = np.random.default_rng(11)
    stored = rng.integers(0, 2**63, size=9_000, dtype=np.uint64)
    shared = stored[100]
    stored[[2_500, 4_000, 8_999]] = shared  # in later batches, so in other runs until merged
    index = _filled(stored, batch=700)
    assert index.seqs_of(np.array([shared], np.uint64)).tolist() == [100, 2_500, 4_000, 8_999]
    asked_twice = np.array([shared, shared, stored[5]], np.uint64)
    assert index.seqs_of(asked_twice).tolist() == [5, 100, 2_500, 4_000, 8_999]


def test_an_empty_index_knows_nothing() -> None:
    assert len(KeyIndex().seqs_of(np.array([1, 2], dtype=np.uint64))) == 0
    index = KeyIndex()
    index.add(np.zeros(0, np.uint64), np.zeros(0, np.int64))
    assert len(index) == 0
