"""The ledger consumer: Kafka records → decoded batches → one DuckDB transaction each.

Offsets live in DuckDB, written with the rows (``enable_auto_commit=False``). On every
partition assignment the consumer seeks to what DuckDB says, so neither a crash nor a
rebalance can lose or repeat a record.

Rebalances: kafka-python revokes and assigns inside ``poll()``, so a batch being gathered
over several polls may hold records of a partition this consumer no longer owns. Those are
dropped on revocation (the new owner re-reads them from the offset stored in DuckDB) and
their offsets are never written. What remains harmless even so: offsets only move forward,
and (source, id) deduplicates, so a record written by two owners in turn (a consumer
expelled for a slow batch) is stored once. Two ``provledger serve`` processes cannot share
one DuckDB file, so two consumers of one group share a ledger only within one process
(the Ledger's write lock serialises their batches); tests/integration/test_exactly_once.py
runs that case.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaConnectionError, KafkaTimeoutError

from ledger.settings import Settings
from ledger.store import Incoming, Ledger, LedgerError, Rejected
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


def relax_gc() -> None:
    """Make the cyclic garbage collector run rarely, for the rest of the process.

    A batch holds hundreds of thousands of young objects (records, decoded events, rows)
    that reference counting frees; with the default gen-0 threshold of 700 the collector
    walks them hundreds of times per batch, which cost a third of ingest CPU. Objects that
    exist by now (modules, schemas, the app) are frozen out of its walks altogether.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


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


def consumer_config(settings: Settings) -> dict[str, object]:
    """The ledger's KafkaConsumer settings (bench/bench_ingest.py times kafka-python with them)."""
    return dict(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=settings.group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=settings.batch_max_records,
        fetch_max_bytes=64 * 1024 * 1024,
        # Under load, fewer and larger fetches: kafka-python's CPU per record fell by a
        # fifth in bench measurements. A trickle waits at most 100 ms more.
        fetch_min_bytes=1024 * 1024,
        fetch_max_wait_ms=100,
        max_partition_fetch_bytes=max(8 * 1024 * 1024, settings.max_event_bytes * 2),
        # A topic created just before (or after) the group forms has no partitions in the
        # first metadata; refresh often so they are picked up in seconds, not 5 minutes.
        metadata_max_age_ms=5000,
        # A crashed member holds its partitions until its session expires: 10 s (not
        # kafka-python's 45 s) bounds how long a restart after kill -9 waits to resume.
        session_timeout_ms=10_000,
        heartbeat_interval_ms=3_000,
    )


class _SeekToLedger(ConsumerRebalanceListener):
    def __init__(self, runner: LedgerConsumer) -> None:
        self._runner = runner

    def on_partitions_revoked(self, revoked) -> None:
        # The batch in flight commits before the partitions go; a batch still being gathered
        # loses the records of revoked partitions (their next owner reads them again from
        # DuckDB's offset).
        self._runner.settle_writes()
        self._runner.drop_buffered({(tp.topic, tp.partition) for tp in revoked})

    def on_partitions_assigned(self, assigned) -> None:
        # Seek to offsets that include every batch this consumer has handed to DuckDB.
        self._runner.settle_writes()
        self._runner.seek_to_ledger(list(assigned))


class LedgerConsumer:
    """Runs in its own thread beside the API; stop with :meth:`stop`."""

    def __init__(self, ledger: Ledger, settings: Settings) -> None:
        self._ledger = ledger
        self._settings = settings
        self._consumer: KafkaConsumer | None = None
        self._stop = threading.Event()
        self._lag_read_at = 0.0
        self._buffer: list[KafkaRecord] = []
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-writer")
        self._in_flight: Future[int] | None = None
        self._failure: LedgerError | None = None
        self._accepted_meanwhile = 0
        self._rejoin = RejoinWatch()
        self.status = ConsumerStatus()

    def drop_buffered(self, partitions: set[tuple[str, int]]) -> None:
        self._buffer = [r for r in self._buffer if (r.topic, r.partition) not in partitions]

    def _connect(self) -> KafkaConsumer:
        consumer = KafkaConsumer(**consumer_config(self._settings))
        consumer.subscribe([self._settings.topic], listener=_SeekToLedger(self))
        return consumer

    def _rejoin_if_idle(self) -> None:
        assert self._consumer is not None
        if self._rejoin.due(bool(self._consumer.assignment()), time.monotonic()):
            log.warning(
                "no partitions of %s for this ledger consumer; leaving and joining %s again",
                self._settings.topic,
                self._settings.group_id,
            )
            self._consumer.unsubscribe()
            self._consumer.subscribe([self._settings.topic], listener=_SeekToLedger(self))

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
        relax_gc()
        last_summary = time.monotonic()
        accepted_since = 0
        try:
            self._consumer = self._connect_retrying()
            while self._consumer is not None and not self._stop.is_set():
                accepted_since += self.poll_once()
                self._rejoin_if_idle()
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
        except LedgerError as exc:
            # Nothing of the failed batch was committed; restarting resumes from it.
            self.status.last_error = str(exc)
            log.error("ledger consumer stopped: %s", exc)
        except Exception as exc:
            self.status.last_error = str(exc)
            log.exception("ledger consumer stopped: %s", exc)
            raise
        finally:
            self.status.running = False
            self._finish_writes()
            if self._consumer is not None:
                self._consumer.close(autocommit=False)

    def _finish_writes(self) -> None:
        try:
            self.wait_for_writes()
        except LedgerError as exc:
            self.status.last_error = str(exc)
            log.error("ledger consumer stopped: %s", exc)
        finally:
            self._writer.shutdown(wait=True)

    def _connect_retrying(self) -> KafkaConsumer | None:
        """Connect, waiting out a broker that is down (a restart, a deploy) until stopped."""
        delay = 0.5
        while not self._stop.is_set():
            try:
                return self._connect()
            except (KafkaConnectionError, KafkaTimeoutError) as exc:
                self.status.last_error = f"no broker at {self._settings.kafka_bootstrap}: {exc}"
                log.warning("%s; retrying in %.1fs", self.status.last_error, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
        return None

    def poll_once(self) -> int:
        """Poll up to one batch (bounded by size and latency) and commit it. Returns accepted."""
        assert self._consumer is not None
        self._buffer = []
        deadline: float | None = None
        while len(self._buffer) < self._settings.batch_max_records:
            # The latency bound counts from the batch's first record, not from the poll.
            wait_s = 0.2 if deadline is None else deadline - time.monotonic()
            if wait_s <= 0:
                break
            polled = self._consumer.poll(
                timeout_ms=max(1, int(min(wait_s, 0.2) * 1000)),
                max_records=self._settings.batch_max_records - len(self._buffer),
            )
            for messages in polled.values():
                self._buffer.extend(to_record(message) for message in messages)
            if deadline is None:
                if not self._buffer:
                    break
                deadline = time.monotonic() + self._settings.batch_max_latency_s
        records, self._buffer = self._buffer, []
        if self._failure is not None:
            raise self._failure
        self._refresh_lag()
        accepted, self._accepted_meanwhile = self._accepted_meanwhile, 0
        if not records:
            # Surface a failed write now, not when the next record arrives.
            done = self._in_flight is not None and self._in_flight.done()
            return accepted + (self.wait_for_writes() if done else 0)
        self.status.last_error = None
        incoming, rejected = decode_batch(records, self._settings.max_event_bytes)
        offsets: dict[tuple[str, int], int] = {}
        for record in records:
            key = (record.topic, record.partition)
            offsets[key] = max(offsets.get(key, 0), record.offset + 1)
        # One batch in flight: DuckDB inserts and commits without the GIL while this thread
        # fetches and decodes the next one. Batches still commit one at a time, in order.
        accepted += self.wait_for_writes()
        self._in_flight = self._writer.submit(self._write, incoming, rejected, offsets)
        return accepted

    def _write(
        self,
        incoming: list[Incoming],
        rejected: list[Rejected],
        offsets: dict[tuple[str, int], int],
    ) -> int:
        result = self._ledger.write_batch(incoming, rejected, offsets)
        self.status.batches += 1
        log.debug(
            "batch: %d records, %d accepted, %d duplicates, %d dead letters",
            len(incoming) + len(rejected),
            result.accepted,
            result.duplicates,
            result.dead_letters,
        )
        return result.accepted

    def settle_writes(self) -> None:
        """wait_for_writes for rebalance callbacks, which kafka-python runs inside poll() and
        whose exceptions it only logs: a failure is kept and raised after the poll."""
        try:
            self._accepted_meanwhile += self.wait_for_writes()
        except LedgerError as exc:
            self._failure = exc

    def wait_for_writes(self) -> int:
        """Wait for the batch in flight to commit (raising its LedgerError); its accepted."""
        future, self._in_flight = self._in_flight, None
        return future.result() if future is not None else 0

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
