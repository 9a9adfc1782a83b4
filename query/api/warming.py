"""What ``provledger serve`` reads ahead of the responders, on a background thread.

The first suspects call for an incident reads the facts of its window's commits through the
``commit_facts`` index, whose nodes come from disk: ~30 ms more than a warm call on the
1M-deployment bench ledger (docs/benchmarks.md). At start the latest incidents are warmed;
then every incident written while serving, and opened recently, is prepared as it arrives,
so the responder's first call for a new incident is a warm one. The API answers meanwhile and
the consumer is not held up; a failure is logged, never raised (this is an optimisation).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.policy.definitions import DEFAULT_LOOKBACK_SPAN
from provenance_ledger.query.suspects.finder import suspects_for
from provenance_ledger.query.ui.views import ON_TIMELINE

log = logging.getLogger(__name__)

# The latest incidents warmed at start, within a budget: they read the shared upper index
# levels and the recent blocks a responder's next call reads.
WARM_INCIDENTS = 100
WARM_BUDGET_S = 20.0
# How often the ledger is looked at for incidents written since (no query while nothing was).
PREPARE_EVERY_S = 1.0
# Only incidents opened this recently are prepared as they are written: a replay or backfill
# of old incidents (a rebuild, a new ledger catching up) is not what responders ask about
# next, and preparing each would cost ~40 ms of CPU.
PREPARE_RECENT = timedelta(hours=24)
# At most this many a round, newest first, and no more once a round has taken this long
# (a call takes 20-100 ms on the bench ledger): a flood of new incidents costs the API and
# the consumer at most about a quarter of a core, not the thread's whole time.
PREPARE_PER_ROUND = 10
PREPARE_BUDGET_S = 0.25


def warm_up(
    ledger: Ledger, stop: threading.Event | None = None, incidents: int = WARM_INCIDENTS
) -> list[str]:
    """``prepare`` the latest ``incidents``; returns their ids.

    Stops early when ``stop`` is set or past ``WARM_BUDGET_S``.
    """
    cur = ledger.cursor()
    try:
        latest = cur.execute(
            "SELECT incident FROM incidents GROUP BY incident ORDER BY max(opened_at) DESC LIMIT ?",
            [incidents],
        ).fetchall()
    except Exception:  # best effort: a failure here must not touch serving
        log.warning("ledger warm-up could not list the latest incidents", exc_info=True)
        latest = []
    finally:
        cur.close()
    warmed = prepare(ledger, [incident for (incident,) in latest], stop, WARM_BUDGET_S)
    log.info("ledger warm-up: suspects of %d latest incidents", len(warmed))
    settle_collector()
    return warmed


def prepare_written(
    ledger: Ledger, after_seq: int, up_to_seq: int, now: datetime | None = None
) -> list[str]:
    """``prepare`` the incidents whose rows have event seqs in
    (``after_seq``, ``up_to_seq``] and that were opened within ``PREPARE_RECENT`` of ``now``;
    returns their ids, newest first (at most ``PREPARE_PER_ROUND``)."""
    since = (now or datetime.now(UTC)) - PREPARE_RECENT
    cur = ledger.cursor()
    try:
        # Incidents are written in seq order: zone maps confine this to the newest rows.
        written = cur.execute(
            "SELECT incident FROM incidents WHERE event_seq > ? AND event_seq <= ? "
            "AND opened_at >= ? GROUP BY incident ORDER BY max(opened_at) DESC LIMIT ?",
            [after_seq, up_to_seq, since, PREPARE_PER_ROUND],
        ).fetchall()
    finally:
        cur.close()
    return prepare(ledger, [incident for (incident,) in written], budget_s=PREPARE_BUDGET_S)


def keep_warm(ledger: Ledger, stop: threading.Event, every_s: float = PREPARE_EVERY_S) -> None:
    """``warm_up``, then every ``every_s`` until ``stop``: ``prepare_written`` for the events
    committed since the last look."""
    seen = ledger.read_position().newest
    warm_up(ledger, stop)
    while not stop.wait(every_s):
        newest = ledger.read_position().newest
        if newest == seen:
            continue
        try:
            prepared = prepare_written(ledger, seen, newest)
        except Exception:  # a failed look is retried over the same seqs next round
            log.warning("could not look for incidents written since seq %d", seen, exc_info=True)
            continue
        seen = newest
        if prepared:
            log.info("suspects prepared for incidents as written: %s", ", ".join(prepared))


def prepare(
    ledger: Ledger,
    incidents: list[str],
    stop: threading.Event | None = None,
    budget_s: float | None = None,
) -> list[str]:
    """The suspects call for each incident in turn, with as many candidates as the incident
    page draws (the API's default of 10 reads a subset of their facts: after the API's call,
    the page's first view read the rest through the index, p95 164.5 against 66.5 ms once
    prepared with 60, `make bench-query` on the 1M-deployment ledger); the ids it ran for.
    Stops when ``stop`` is set, and after the first incident that ends past ``budget_s``."""
    prepared: list[str] = []
    deadline = time.monotonic() + budget_s if budget_s is not None else None
    cur = ledger.cursor()
    try:
        for incident in incidents:
            if stop is not None and stop.is_set():
                break
            suspects_for(cur, incident, DEFAULT_LOOKBACK_SPAN, ON_TIMELINE, ledger.read_position())
            prepared.append(incident)
            if deadline is not None and time.monotonic() > deadline:
                break
    except Exception:  # best effort: a failure here must not touch serving
        log.warning("preparing suspects stopped after %d incidents", len(prepared), exc_info=True)
    finally:
        cur.close()
    return prepared


def settle_collector() -> None:
    """Take what exists now (modules, the suspects call's in-memory copies) out of the
    cyclic garbage collector's full passes: on the 1M-deployment bench ledger each full pass
    over them took 90-130 ms and landed in a suspects call now and then; after this the
    longest pass measured 1.2 ms. Reference counting still frees what is dropped."""
    gc.freeze()
