"""CommitQueue: in order, at most ``depth`` in flight, nothing written behind a failure."""

from __future__ import annotations

import threading

import pytest

from provenance_ledger.ledger.commitqueue import CommitQueue
from provenance_ledger.ledger.store import LedgerError


def test_results_come_back_in_the_order_the_batches_were_handed_over() -> None:
    queue: CommitQueue[int] = CommitQueue("test-writer", depth=3)
    results = []
    for n in range(10):
        results += queue.submit(lambda n=n: n)
    results += queue.drain()
    queue.close()
    assert results == list(range(10))


def test_a_batch_waits_for_room_once_depth_batches_are_in_flight() -> None:
    queue: CommitQueue[int] = CommitQueue("test-writer", depth=2)
    release = threading.Event()
    queue.submit(release.wait)
    queue.submit(lambda: 2)
    third = threading.Thread(target=queue.submit, args=(lambda: 3,))
    third.start()
    third.join(0.5)
    assert third.is_alive(), "a third batch was handed over with two in flight"
    release.set()
    third.join(10)
    assert not third.is_alive()
    assert queue.drain() == [3]
    queue.close()


def test_the_batches_behind_a_failed_one_are_not_written() -> None:
    queue: CommitQueue[str] = CommitQueue("test-writer", depth=3)
    release = threading.Event()
    written = []

    def failing() -> str:
        release.wait()
        raise LedgerError("the first batch failed")

    queue.submit(failing)
    queue.submit(lambda: written.append("second") or "second")
    queue.submit(lambda: written.append("third") or "third")
    release.set()
    with pytest.raises(LedgerError, match="the first batch failed"):
        queue.drain()
    assert written == []
    assert queue.drain() == []
    with pytest.raises(LedgerError, match="a batch before it failed"):
        queue.submit(lambda: "after")
        queue.drain()
    queue.close()
