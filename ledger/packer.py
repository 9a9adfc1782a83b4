"""``provledger serve``'s packer: keeps ``commit_packs`` (ledger/commit_packs.py) behind the
writer, on a thread of its own.

A pass reads every ``commit_facts`` row's commit once, whatever it packs (~1 s of CPU on
the 24M facts of the 1M-deployment bench ledger), so passes wait for many deployments (and
configuration changes applied from a commit, packed alike): ``at_least`` of them, or any once
``idle_s`` passed since the last pass (a small ledger is packed too). A pass takes ``most``
at a time: its text is held until it commits, and a pass of 50,000 deployments of ten commits
cost more CPU per event than one of 20,000 (``make bench-pack``). Deployments not packed yet
are read the old way, as fast as before.
"""

from __future__ import annotations

import logging
import threading
import time

import duckdb

from provenance_ledger.ledger.commit_packs import pack, unpacked
from provenance_ledger.ledger.store import Ledger

log = logging.getLogger(__name__)

# How often the packer counts the deployments not packed (one small query on the newest rows).
LOOK_EVERY_S = 5.0
PACK_AT_LEAST = 20_000
PACK_IDLE_S = 600.0
# How long stop() waits for a pass to end.
STOP_WAIT_S = 30.0


class Packer:
    """Passes of :func:`pack` while started; a failed pass is logged and tried again at the
    next look (nothing of it was kept: a pass is one transaction)."""

    def __init__(
        self,
        ledger: Ledger,
        look_every_s: float = LOOK_EVERY_S,
        at_least: int = PACK_AT_LEAST,
        idle_s: float = PACK_IDLE_S,
        most: int = PACK_AT_LEAST,
    ) -> None:
        self._cur = ledger.cursor()
        self._look_every_s = look_every_s
        self._at_least = at_least
        self._idle_s = idle_s
        self._most = most
        self._last_pass = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ledger-packer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stops the thread, interrupting a pass under way (it is rolled back). An interrupt
        that lands between two of a pass's statements is lost, so it is sent until the
        thread ends."""
        self._stop.set()
        deadline = time.monotonic() + STOP_WAIT_S
        while self._thread.is_alive() and time.monotonic() < deadline:
            self._cur.interrupt()
            self._thread.join(timeout=0.2)
        if self._thread.is_alive():
            log.warning("the packer did not stop within %.0f s", STOP_WAIT_S)
            return
        self._cur.close()

    def pass_if_due(self) -> bool:
        """One pass if enough deployments wait for one; whether it ran."""
        waiting = unpacked(self._cur)
        idle = time.monotonic() - self._last_pass >= self._idle_s
        if waiting < self._at_least and not (waiting and idle):
            return False
        began = time.monotonic()
        after = pack(self._cur, self._most)
        self._last_pass = time.monotonic()
        log.info(
            "packed deployments up to seq %d with facts up to seq %d in %.1f s",
            after.deployments_through,
            after.facts_through,
            self._last_pass - began,
        )
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self._look_every_s):
            try:
                while self.pass_if_due() and not self._stop.is_set():
                    pass
            except duckdb.InterruptException:
                return
            except Exception:  # the ledger goes on without packs; the next look tries again
                # with half as many deployments, in case this pass did not fit in memory.
                self._most = max(1, self._most // 2)
                log.warning(
                    "packing commit facts failed; the next pass takes %d deployments at most",
                    self._most,
                    exc_info=True,
                )
