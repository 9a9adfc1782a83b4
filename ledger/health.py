"""Is the ledger consumer making progress? One rule for /healthz and for recreating a stuck
consumer: behind Kafka with nothing committed for a while, or no lag measured for a while
(the loop itself is stuck), is a problem; idle and caught up is not."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class ConsumerStatus:
    running: bool = False
    lag: dict[int, int] = field(default_factory=dict)
    """Per partition this consumer owns."""
    last_error: str | None = None
    batches: int = 0
    topic_lag: int | None = None
    """Records of every partition of the topic not yet in the ledger; None until measured."""
    started_at: float = field(default_factory=time.monotonic)
    lag_read_at: float | None = None
    progress_at: float = field(default_factory=time.monotonic)
    """The last time the ledger committed a batch or was seen caught up (monotonic)."""
    recreated: int = 0
    refused: str | None = None
    """Why the ledger refuses to run (a setting); the consumer has stopped for good."""

    @property
    def total_lag(self) -> int:
        if self.topic_lag is not None:
            return self.topic_lag
        return sum(self.lag.values())


def stall(status: ConsumerStatus, now: float, after_s: float) -> str | None:
    """Why a running consumer counts as stuck, or None."""
    measured_at = status.lag_read_at if status.lag_read_at is not None else status.started_at
    if now - measured_at > after_s:
        why = f": {status.last_error}" if status.last_error else ""
        return f"the consumer has not measured its lag for {now - measured_at:.0f} s{why}"
    if status.topic_lag and now - status.progress_at > after_s:
        return (
            f"{status.topic_lag} records behind Kafka and nothing committed for "
            f"{now - status.progress_at:.0f} s"
        )
    return None


def problem(status: ConsumerStatus, now: float, after_s: float) -> str | None:
    """Why /healthz says degraded, or None for ok."""
    if not status.running:
        return status.refused or status.last_error or "the ledger consumer is not running"
    return stall(status, now, after_s)
