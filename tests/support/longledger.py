"""Ledgers several verify chunks long, built in seconds: copies of a few hundred realistic
events (tests/support/eventmix.py) under fresh ids, written through the real ``Ledger.write_batch``
(building and validating every event anew costs more than writing it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from provenance_ledger.ledger.store import Ledger
from provenance_ledger.schemas.codec import DecodedEvent
from tests.support import eventmix
from tests.support.ledgerproc import fill

TEMPLATES = 400


def events(count: int, seed: int = 0) -> Iterator[DecodedEvent]:
    templates = list(eventmix.events(min(count, TEMPLATES), seed))
    for i in range(count):
        template = templates[i % len(templates)]
        event = template.event.model_copy(update={"id": f"{seed}-long-{i}"})
        yield DecodedEvent(event, template.fact)


def build(path: Path, count: int, seed: int = 0) -> None:
    ledger = Ledger.open(path, migrate=True)
    try:
        fill(ledger, events(count, seed), batch=5_000)
    finally:
        ledger.close()
