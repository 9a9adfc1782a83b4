"""Deliver events or spool them: a build never fails and no event is lost for Kafka's sake.

Spooled events go first (they are older), then the new ones; if the broker does not take them
within the emitter's bounded wait, the rest are appended to the spool for ``provledger flush``.
"""

from __future__ import annotations

from dataclasses import dataclass

from provenance_ledger.producers.emitter import Emitter, to_spooled
from provenance_ledger.producers.spool import Spool
from provenance_ledger.schemas.codec import DecodedEvent


@dataclass(frozen=True)
class Outcome:
    delivered: int
    spooled: int
    drained: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.spooled == 0


def deliver(
    emitter: Emitter, spool: Spool, events: list[DecodedEvent], fmt: str, chunk: int = 1000
) -> Outcome:
    """Publish ``events`` (after anything already spooled); spool what the broker did not take.

    If another process is draining the spool, the new events go straight to Kafka rather than
    wait behind it: order across processes is not defined anyway.
    """
    drained = 0
    if spool.pending():
        result = spool.drain(emitter.deliver_spooled, wait_s=emitter.timeout_s)
        drained = result.delivered
        if result.remaining and not result.busy:
            spool.append([to_spooled(event, fmt) for event in events])
            emitter.abort()
            return Outcome(0, len(events), drained, "the broker did not take the spooled events")
    delivered = 0
    for start in range(0, len(events), chunk):
        batch = events[start : start + chunk]
        acked = emitter.publish_batch([(event, fmt) for event in batch])
        delivered += acked
        if acked < len(batch):
            rest = events[start + acked :]
            spool.append([to_spooled(event, fmt) for event in rest])
            emitter.abort()
            return Outcome(delivered, len(rest), drained, "the broker did not answer in time")
    return Outcome(delivered, 0, drained)
