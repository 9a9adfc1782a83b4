"""Batches committed one at a time, in order, on one writer thread, with a few handed over
ahead so that whoever gathers batches (serve's consumer, rebuild's replay) need not wait for
each commit before gathering the next.

A batch that fails stops the batches queued behind it: they are not written (their offsets
would pass the failed batch's records), and the first failure is what the caller sees.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

from provenance_ledger.ledger.store import LedgerError

Result = TypeVar("Result")

# Batches handed to the writer and not yet committed. Two let the caller gather the next
# batch, and the worker prepare it, while the writer commits the one before: with one, the
# worker idled for as long as a commit and a gather took.
WRITES_IN_FLIGHT = 2


class CommitQueue(Generic[Result]):
    """One writer thread and the batches handed to it, oldest first. Used from one thread."""

    def __init__(self, thread_name: str, depth: int = WRITES_IN_FLIGHT) -> None:
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self._depth = depth
        self._in_flight: deque[Future[Result]] = deque()
        self._failed = False  # set on the writer thread, read there by the batches behind

    def submit(self, write: Callable[..., Result], *args) -> list[Result]:
        """Hand ``write(*args)`` to the writer once fewer than ``depth`` batches are in
        flight; the results of the batches committed meanwhile, in order."""
        results = []
        while len(self._in_flight) >= self._depth:
            results.append(self._collect_first())
        self._in_flight.append(self._writer.submit(self._in_order, write, *args))
        return results + self.committed()

    def committed(self) -> list[Result]:
        """The results of the batches committed so far and not yet collected, in order."""
        results = []
        while self._in_flight and self._in_flight[0].done():
            results.append(self._collect_first())
        return results

    def drain(self) -> list[Result]:
        """Wait for every batch in flight; their results, in order."""
        results = []
        while self._in_flight:
            results.append(self._collect_first())
        return results

    def close(self) -> None:
        """Wait for the batch being written; the ones behind it are written too unless it
        failed."""
        self._writer.shutdown(wait=True)

    def _in_order(self, write: Callable[..., Result], *args) -> Result:
        if self._failed:
            raise LedgerError("not written: a batch before it failed")
        try:
            return write(*args)
        except BaseException:
            self._failed = True
            raise

    def _collect_first(self) -> Result:
        """The first batch's result once committed. If it failed, the batches behind it are
        waited for (they fail too, unwritten) and its error is raised."""
        try:
            return self._in_flight.popleft().result()
        except BaseException:
            for later in self._in_flight:
                later.exception()
            self._in_flight.clear()
            raise
