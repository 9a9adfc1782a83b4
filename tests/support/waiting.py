"""Waiting with a deadline: for a condition, and for a process's output.

Every wait in the tests goes through here, so each one ends by its deadline with a message
naming what it awaited, instead of hanging until pytest-timeout kills the whole run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import IO, TypeVar

T = TypeVar("T")


def wait_until(
    check: Callable[[], T],
    timeout_s: float,
    what: str | Callable[[], str],
    interval_s: float = 0.1,
) -> T:
    """Call ``check`` until it returns something truthy, and return that.

    ``what`` names the awaited condition in the failure; a callable is asked only then, so it
    can describe the last state seen (``lambda: f"8 events (have {health})"``). An exception
    from ``check`` (an assert that the process is still alive, say) ends the wait at once.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            described = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {described}")
        time.sleep(interval_s)


class OutputReader:
    """Reads a process's text output in a thread, so no read blocks the test.

    A silent process leaves ``readline()`` blocked for good, whatever deadline the loop around
    it checks; here the test waits on what was read so far, with a real deadline.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._chunks: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stream:
            with self._lock:
                self._chunks.append(line)

    @property
    def text(self) -> str:
        with self._lock:
            return "".join(self._chunks)

    @property
    def ended(self) -> bool:
        """The stream reached its end (the process closed it, usually by exiting)."""
        return not self._thread.is_alive()

    def wait_for(self, marker: str, timeout_s: float) -> str:
        """Everything read once ``marker`` appears; fails at the deadline or at the end of
        the stream without it, showing what was read."""

        def seen() -> bool:
            if marker in self.text:
                return True
            if self.ended:
                raise AssertionError(f"the output ended without {marker!r}:\n{self.text}")
            return False

        wait_until(seen, timeout_s, lambda: f"{marker!r} in the output:\n{self.text}")
        return self.text

    def rest(self, timeout_s: float) -> str:
        """Everything, once the stream has ended (call after stopping the process)."""
        self._thread.join(timeout=timeout_s)
        assert self.ended, f"the output did not end within {timeout_s:g} s"
        return self.text
