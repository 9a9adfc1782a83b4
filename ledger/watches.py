"""What the consumer's poll loop watches besides records: whether an idle member should
rejoin its group (:class:`RejoinWatch`), and the lag and progress /healthz judges
(:class:`LagWatch`)."""

from __future__ import annotations

import logging
import time

from kafka import KafkaConsumer, TopicPartition

from provenance_ledger.ledger.health import ConsumerStatus
from provenance_ledger.ledger.store import Ledger

log = logging.getLogger(__name__)
LAG_REFRESH_S = 1.0

# kafka-python can finish a join with no partitions for this member (the leader had no
# metadata for the topic yet) and then wait for a metadata change that never comes: the
# ledger would sit idle. A member with no partitions for REJOIN_AFTER_S leaves and joins
# again. That is longer than a session timeout, so a rebalance waiting out a crashed member
# is left alone; the wait doubles each time (up to REJOIN_MAX_S), so that a member with
# nothing to do in a group with more members than partitions seldom disturbs the others.
REJOIN_AFTER_S = 30.0
REJOIN_MAX_S = 600.0


class RejoinWatch:
    """Says when a member that has had no partitions for a while should rejoin its group."""

    def __init__(self, after_s: float = REJOIN_AFTER_S, max_s: float = REJOIN_MAX_S) -> None:
        self._after_s, self._max_s = after_s, max_s
        self._wait_s = after_s
        self._idle_since: float | None = None

    def due(self, assigned: bool, now: float) -> bool:
        if assigned:
            self._idle_since, self._wait_s = None, self._after_s
            return False
        if self._idle_since is None:
            self._idle_since = now
            return False
        if now - self._idle_since < self._wait_s:
            return False
        self._idle_since, self._wait_s = now, min(self._wait_s * 2, self._max_s)
        return True


class LagWatch:
    """Lag over every partition of the topic (one ledger reads them all), and whether the
    ledger's offsets moved since the last look: the progress /healthz judges. Writes what
    it sees into ``status``, at most once per LAG_REFRESH_S."""

    def __init__(self, ledger: Ledger, topic: str, status: ConsumerStatus) -> None:
        self._ledger = ledger
        self._topic = topic
        self._status = status
        self._read_at = 0.0
        self._stored_seen = -1

    def refresh(self, consumer: KafkaConsumer) -> None:
        now = time.monotonic()
        if now - self._read_at < LAG_REFRESH_S:
            return
        self._read_at = now
        topic, status = self._topic, self._status
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return
        everything = [TopicPartition(topic, p) for p in sorted(partitions)]
        try:
            ends = consumer.end_offsets(everything)
        except Exception as exc:
            status.last_error = f"could not read the end offsets of {topic}: {exc}"
            log.debug(status.last_error)
            return
        stored = self._ledger.committed_offsets(topic)
        lag = {tp.partition: max(0, ends.get(tp, 0) - stored.get(tp.partition, 0)) for tp in ends}
        stored_total = sum(stored.values())
        if stored_total > self._stored_seen or not any(lag.values()):
            status.progress_at = now
        self._stored_seen = stored_total
        assigned = {tp.partition for tp in consumer.assignment()}
        status.lag = {p: n for p, n in lag.items() if p in assigned}
        status.topic_lag = sum(lag.values())
        status.lag_read_at = now
