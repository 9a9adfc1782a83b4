"""Dropping a producer whose records are still in flight (after their events were spooled)
must not raise: `emit` and the hook would fail a CI step for a broker that was only slow."""

from __future__ import annotations

import threading

from provenance_ledger.ledger.settings import Settings
from provenance_ledger.producers.emitter import Emitter
from tests.support import eventmix
from tests.support.waiting import wait_until


def test_abort_with_records_in_flight_closes_without_raising(settings: Settings) -> None:
    before = set(threading.enumerate())
    emitter = Emitter(settings.kafka_bootstrap, settings.topic, timeout_s=5)
    for decoded in eventmix.events(2_000, seed=5):
        emitter.send(decoded)
    producer_threads = set(threading.enumerate()) - before
    assert producer_threads  # the sender runs
    emitter.abort()
    emitter.abort()  # twice is harmless
    wait_until(
        lambda: not any(thread.is_alive() for thread in producer_threads),
        10,
        "the producer's threads to end",
    )
