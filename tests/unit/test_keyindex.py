"""The key index answers "maybe stored" for every stored hash and "new" for the rest."""

import numpy as np

from provenance_ledger.ledger.keyindex import KeyIndex


def test_every_added_hash_is_found_and_others_are_not() -> None:
    rng = np.random.default_rng(7)
    stored = rng.integers(0, 2**63, size=20_000, dtype=np.uint64)
    index = KeyIndex()
    for start in range(0, len(stored), 1_000):  # batches, as write_batch adds them
        index.add(stored[start : start + 1_000])
    assert len(index) == len(stored)
    assert len(index._runs) <= 16  # merged into O(log n) sorted runs
    assert index.maybe_known(stored[::-1].copy()).all()
    fresh = np.setdiff1d(rng.integers(0, 2**63, size=5_000, dtype=np.uint64), stored)
    assert not index.maybe_known(fresh).any()
    mixed = np.concatenate([fresh[:3], stored[:2]])
    assert index.maybe_known(mixed).tolist() == [False, False, False, True, True]


def test_an_empty_index_knows_nothing() -> None:
    assert not KeyIndex().maybe_known(np.array([1, 2], dtype=np.uint64)).any()
