"""The ledger consumer: Kafka records → decoded batches → one DuckDB transaction each.

Offsets live in DuckDB, written with the rows (``enable_auto_commit=False``). On every
partition assignment the consumer seeks to what DuckDB says, so neither a crash nor a
rebalance can lose or repeat a record.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener

from ledger.settings import Settings
from ledger.store import Incoming, Ledger, Rejected
from schemas.codec import DecodeError, KafkaRecord, decode_record

log = logging.getLogger(__name__)
SUMMARY_EVERY_S = 30.0
LAG_REFRESH_S = 1.0


@dataclass
class ConsumerStatus:
    running: bool = False
    lag: dict[int, int] = field(default_factory=dict)
    last_error: str | None = None
    batches: int = 0

    @property
    def total_lag(self) -> int:
        return sum(self.lag.values())


def to_record(message) -> KafkaRecord:
    return KafkaRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        headers=tuple(message.headers or ()),
    )


def decode_batch(
    records: list[KafkaRecord], max_event_bytes: int
) -> tuple[list[Incoming], list[Rejected]]:
    incoming: list[Incoming] = []
    rejected: list[Rejected] = []
    for record in records:
        decoded = decode_record(record, max_event_bytes)
        if isinstance(decoded, DecodeError):
            rejected.append(
                Rejected(
                    record,
                    decoded.code,
                    decoded.detail,
                    record.header("ce_source"),
                    record.header("ce_id"),
                    record.header("ce_type"),
                )
            )
        else:
            incoming.append(Incoming(record, decoded))
    return incoming, rejected


class _SeekToLedger(ConsumerRebalanceListener):
    def __init__(self, runner: LedgerConsumer) -> None:
        self._runner = runner

    def on_partitions_revoked(self, revoked) -> None:
        # Nothing to flush: every batch is committed to DuckDB before the next poll.
        pass

    def on_partitions_assigned(self, assigned) -> None:
        self._runner.seek_to_ledger(list(assigned))


class LedgerConsumer:
    """Runs in its own thread beside the API; stop with :meth:`stop`."""

    def __init__(self, ledger: Ledger, settings: Settings) -> None:
        self._ledger = ledger
        self._settings = settings
        self._consumer: KafkaConsumer | None = None
        self._stop = threading.Event()
        self._lag_read_at = 0.0
        self.status = ConsumerStatus()

    def _connect(self) -> KafkaConsumer:
        consumer = KafkaConsumer(
            bootstrap_servers=self._settings.kafka_bootstrap,
            group_id=self._settings.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._settings.batch_max_records,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=max(8 * 1024 * 1024, self._settings.max_event_bytes * 2),
        )
        consumer.subscribe([self._settings.topic], listener=_SeekToLedger(self))
        return consumer

    def seek_to_ledger(self, partitions: list[TopicPartition]) -> None:
        assert self._consumer is not None
        stored = self._ledger.committed_offsets(self._settings.topic)
        for tp in partitions:
            if tp.partition in stored:
                self._consumer.seek(tp, stored[tp.partition])
            else:
                self._consumer.seek_to_beginning(tp)

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        self.status.running = True
        last_summary = time.monotonic()
        accepted_since = 0
        try:
            self._consumer = self._connect()
            while not self._stop.is_set():
                accepted_since += self.poll_once()
                if time.monotonic() - last_summary >= SUMMARY_EVERY_S:
                    events, dead = self._ledger.counts()
                    log.info(
                        "ledger: %d events accepted in the last %.0fs; %d stored, "
                        "%d dead letters, lag %d",
                        accepted_since,
                        SUMMARY_EVERY_S,
                        events,
                        dead,
                        self.status.total_lag,
                    )
                    last_summary = time.monotonic()
                    accepted_since = 0
        except Exception as exc:
            self.status.last_error = str(exc)
            log.exception("ledger consumer stopped: %s", exc)
            raise
        finally:
            self.status.running = False
            if self._consumer is not None:
                self._consumer.close(autocommit=False)

    def poll_once(self) -> int:
        """Poll up to one batch (bounded by size and latency) and commit it. Returns accepted."""
        assert self._consumer is not None
        records: list[KafkaRecord] = []
        deadline = time.monotonic() + self._settings.batch_max_latency_s
        while len(records) < self._settings.batch_max_records:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                break
            polled = self._consumer.poll(
                timeout_ms=min(remaining_ms, 200),
                max_records=self._settings.batch_max_records - len(records),
            )
            for messages in polled.values():
                records.extend(to_record(message) for message in messages)
            if not polled and records:
                break
        self._refresh_lag()
        if not records:
            return 0
        incoming, rejected = decode_batch(records, self._settings.max_event_bytes)
        offsets: dict[tuple[str, int], int] = {}
        for record in records:
            key = (record.topic, record.partition)
            offsets[key] = max(offsets.get(key, 0), record.offset + 1)
        result = self._ledger.write_batch(incoming, rejected, offsets)
        self.status.batches += 1
        log.debug(
            "batch: %d records, %d accepted, %d duplicates, %d dead letters",
            len(records),
            result.accepted,
            result.duplicates,
            result.dead_letters,
        )
        return result.accepted

    def _refresh_lag(self) -> None:
        assert self._consumer is not None
        if time.monotonic() - self._lag_read_at < LAG_REFRESH_S:
            return
        self._lag_read_at = time.monotonic()
        assigned = list(self._consumer.assignment())
        if not assigned:
            return
        try:
            ends = self._consumer.end_offsets(assigned)
        except Exception as exc:
            log.debug("could not read end offsets: %s", exc)
            return
        stored = self._ledger.committed_offsets(self._settings.topic)
        self.status.lag = {
            tp.partition: max(0, ends.get(tp, 0) - stored.get(tp.partition, 0)) for tp in assigned
        }
