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

import functools
import logging
import threading
import time

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import BrokerResponseError, KafkaError
from kafka.structs import OffsetAndMetadata

from provenance_ledger.ledger import identity, origin
from provenance_ledger.ledger.batch import (
    BatchResult,
    Incoming,
    Rejected,
    decode_batch,
    next_offsets,
    relax_gc,
    to_record,
)
from provenance_ledger.ledger.commitqueue import CommitQueue
from provenance_ledger.ledger.group import check_group
from provenance_ledger.ledger.health import ConsumerStatus, stall
from provenance_ledger.ledger.preparer import Preparer, Worker, write_prepared
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger, LedgerError
from provenance_ledger.ledger.topic import SetupError, ensure_topic
from provenance_ledger.ledger.watches import LagWatch, RejoinWatch
from provenance_ledger.schemas.codec import KafkaRecord

log = logging.getLogger(__name__)
SUMMARY_EVERY_S = 30.0
# A broker just started loads its group coordinator for a few seconds; longer is not routine.
NOT_READY_ROUTINE_S = 30.0
METADATA_WAIT_S = 10.0


def consumer_config(
    settings: Settings, group_id: str | None = None, client_id: str | None = None
) -> dict[str, object]:
    """The ledger's KafkaConsumer settings (bench/bench_ingest.py times kafka-python with them)."""
    extra = {"client_id": client_id} if client_id else {}
    return dict(
        extra,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=group_id or settings.group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=settings.batch_max_records,
        fetch_max_bytes=64 * 1024 * 1024,
        # Under load, fewer and larger fetches: kafka-python's CPU per record fell by a
        # fifth in bench measurements.
        fetch_min_bytes=1024 * 1024,
        # Idle, each fetch is a broker round trip: an idle ledger took ~5 % of a core at
        # 100 ms, 2.5 % at 250 ms, 1.8 % at 500 ms (bench/bench_idle.py); 500 ms made the
        # first event of a trickle take 2.3 s (batch latency included), 250 ms 1.7 s.
        fetch_max_wait_ms=250,
        max_partition_fetch_bytes=max(8 * 1024 * 1024, settings.max_event_bytes * 2),
        # A topic created just before (or after) the group forms has no partitions in the
        # first metadata; refresh often so they are picked up in seconds, not 5 minutes.
        metadata_max_age_ms=5000,
        # A crashed member holds its partitions until its session expires: 10 s (not
        # kafka-python's 45 s) bounds how long a restart after kill -9 waits to resume.
        session_timeout_ms=10_000,
        heartbeat_interval_ms=3_000,
    )


def broker_problem(bootstrap: str, exc: KafkaError, waited_s: float) -> tuple[str, int]:
    """What a failed connection says, and how loud: a broker that answered with an error
    (its group coordinator still loading after a start) is there and nearly ready, which is
    routine while ``provledger up`` starts it, for ``NOT_READY_ROUTINE_S``; no answer at all
    is worth a warning."""
    if isinstance(exc, BrokerResponseError):
        routine = waited_s < NOT_READY_ROUTINE_S
        level = logging.INFO if routine else logging.WARNING
        return f"the broker at {bootstrap} is not ready yet: {exc}", level
    return f"no broker at {bootstrap}: {exc}", logging.WARNING


class _SeekToLedger(ConsumerRebalanceListener):
    def __init__(self, runner: LedgerConsumer) -> None:
        self._runner = runner

    def on_partitions_revoked(self, revoked) -> None:
        # The batches in flight commit before the partitions go; a batch still being gathered
        # loses the records of revoked partitions (their next owner reads them again from
        # DuckDB's offset).
        self._runner.settle_writes()
        self._runner.drop_buffered({(tp.topic, tp.partition) for tp in revoked})

    def on_partitions_assigned(self, assigned) -> None:
        # Seek to offsets that include every batch this consumer has handed to DuckDB.
        self._runner.settle_writes()
        self._runner.seek_to_ledger(list(assigned))
        self._runner.claim_due = True


class LedgerConsumer:
    """Runs in its own thread beside the API; stop with :meth:`stop`."""

    def __init__(self, ledger: Ledger, settings: Settings) -> None:
        if ledger.ledger_id is None:
            raise ValueError("the ledger consumer needs a ledger opened for writing")
        self._ledger = ledger
        self._settings = settings
        self._ledger_id = ledger.ledger_id
        self.group_id = settings.group_id or identity.default_group(ledger.ledger_id)
        self._prepared = False
        # Set once the topic and group are checked, or the ledger refused them.
        self.ready = threading.Event()
        # After an assignment: claim the group in Kafka and look for strangers in it
        # (done in the poll loop: kafka-python runs rebalance callbacks inside poll()).
        self.claim_due = False
        self._consumer: KafkaConsumer | None = None
        self._stop = threading.Event()
        self._buffer: list[KafkaRecord] = []
        self._commits: CommitQueue[int] = CommitQueue("ledger-writer")
        self._failure: LedgerError | None = None
        self._accepted_meanwhile = 0
        self._rejoin = RejoinWatch()
        self.status = ConsumerStatus()
        self._lag = LagWatch(ledger, settings.topic, self.status)
        self._origins = origin.load_key(settings)
        self._preparer: Preparer | None = None

    def drop_buffered(self, partitions: set[tuple[str, int]]) -> None:
        self._buffer = [r for r in self._buffer if (r.topic, r.partition) not in partitions]

    def _connect(self) -> KafkaConsumer:
        if not self._prepared:
            self._prepare()
        consumer = KafkaConsumer(
            **consumer_config(self._settings, self.group_id, identity.client_id(self._ledger_id))
        )
        self._subscribe(consumer)
        return consumer

    def _subscribe(self, consumer: KafkaConsumer) -> None:
        """Subscribe, then wait (before the first poll, which joins the group) until a metadata
        update made after subscribing holds the topic's partitions.

        As the group's leader, kafka-python assigns from its metadata and remembers the
        partitions its last metadata update showed for the subscription; when a later update
        differs, the leader leaves its partitions and rejoins, and holds none until every
        other member notices the rebalance (up to a heartbeat interval). Without partitions
        in metadata the leader assigns nothing; with metadata fetched before subscribing it
        assigns but remembers none, and rejoins at the next refresh."""
        consumer.subscribe([self._settings.topic], listener=_SeekToLedger(self))
        deadline = time.monotonic() + METADATA_WAIT_S
        while True:
            consumer.topics()  # a metadata update, now seen with the subscription
            if consumer.partitions_for_topic(self._settings.topic):
                return
            if time.monotonic() > deadline or self._stop.wait(0.1):
                return

    def _admin(self) -> KafkaAdminClient:
        return KafkaAdminClient(
            bootstrap_servers=self._settings.kafka_bootstrap,
            client_id=identity.client_id(self._ledger_id),
            request_timeout_ms=10_000,
        )

    def _prepare(self) -> None:
        """Own the topic and the group before joining: raises SetupError when refused."""
        admin = self._admin()
        try:
            if ensure_topic(admin, self._settings):
                log.info("created the topic %s", self._settings.topic)
            check_group(admin, self.group_id, self._ledger_id, self._settings.kafka_bootstrap)
        finally:
            admin.close()
        self._prepared = True
        self.ready.set()

    def _claim_group(self) -> None:
        """Commit this ledger's id as offset metadata for its partitions, then check that no
        one else claimed the group meanwhile (two ledgers starting at once)."""
        assert self._consumer is not None
        stored = self._ledger.committed_offsets(self._settings.topic)
        claim = identity.claim(self._ledger_id)
        offsets = {
            tp: OffsetAndMetadata(stored.get(tp.partition, 0), claim, -1)
            for tp in self._consumer.assignment()
        }
        try:
            if offsets:
                self._consumer.commit(offsets)
            admin = self._admin()
            try:
                check_group(admin, self.group_id, self._ledger_id, self._settings.kafka_bootstrap)
            finally:
                admin.close()
        except KafkaError as exc:  # a rebalance under way, the broker away: next time round
            log.info("could not claim the group %s yet: %s", self.group_id, exc)
            return
        self.claim_due = False

    def _rejoin_if_idle(self) -> None:
        assert self._consumer is not None
        if self._rejoin.due(bool(self._consumer.assignment()), time.monotonic()):
            log.warning(
                "no partitions of %s for this ledger consumer; leaving and joining %s again",
                self._settings.topic,
                self.group_id,
            )
            self._consumer.unsubscribe()
            try:
                self._subscribe(self._consumer)
            except KafkaError as exc:  # subscribed all the same: metadata comes with the join
                log.info("no metadata for %s before rejoining: %s", self._settings.topic, exc)

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
        self._preparer = Preparer.start(self._ledger, self._settings, self._origins)
        last_summary = time.monotonic()
        accepted_since = 0
        try:
            self._consumer = self._connect_retrying()
            while self._consumer is not None and not self._stop.is_set():
                accepted_since += self.poll_once()
                if self.claim_due:
                    self._claim_group()
                self._rejoin_if_idle()
                stuck = stall(self.status, time.monotonic(), self._settings.stall_after_s)
                if stuck is not None:
                    self._recreate(stuck)
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
        except SetupError as exc:
            self.status.refused = self.status.last_error = str(exc)
            log.error("ledger consumer refused to start: %s", exc)
            self.ready.set()
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
            self._commits.close()
            if self._preparer is not None:
                self._preparer.close()

    def _connect_retrying(self) -> KafkaConsumer | None:
        """Connect, waiting out a broker that is down (a restart, a deploy) until stopped."""
        delay, since = 0.5, time.monotonic()
        connecting = f"connecting to the broker at {self._settings.kafka_bootstrap}"
        self.status.last_error = self.status.last_error or connecting
        while not self._stop.is_set():
            try:
                consumer = self._connect()
            except KafkaError as exc:
                self.status.last_error, level = broker_problem(
                    self._settings.kafka_bootstrap, exc, time.monotonic() - since
                )
                log.log(level, "%s; retrying in %.1fs", self.status.last_error, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
                continue
            if self.status.last_error == connecting:
                self.status.last_error = None
            # A new consumer gets a full stall period to join and catch up.
            now = time.monotonic()
            self.status.started_at = self.status.progress_at = now
            self.status.lag_read_at = None
            return consumer
        return None

    def _recreate(self, reason: str) -> None:
        """Close a stuck consumer and make a new one (a fresh join, fresh connections)."""
        assert self._consumer is not None
        log.warning("ledger consumer stuck (%s): closing it and making a new one", reason)
        self._accepted_meanwhile += self.wait_for_writes()
        consumer, self._consumer = self._consumer, None
        try:
            consumer.close(autocommit=False, timeout_ms=5000)
        except Exception as exc:  # a wedged client may fail to close; it is dropped anyway
            log.warning("closing the stuck consumer failed: %s", exc)
        self.status.recreated += 1
        self.status.last_error = f"recreated the consumer: {reason}"
        self._consumer = self._connect_retrying()

    def poll_once(self) -> int:
        """Poll up to one batch (bounded by size and latency) and commit it. Returns accepted."""
        assert self._consumer is not None
        records = self._gather()
        if self._failure is not None:
            raise self._failure
        self._lag.refresh(self._consumer)
        accepted, self._accepted_meanwhile = self._accepted_meanwhile, 0
        if not records:
            # Surface a failed write now, not when the next record arrives.
            return accepted + sum(self._commits.committed())
        self.status.last_error = None
        offsets = next_offsets(records)
        if self._preparer is not None:
            # The worker prepares this batch while the writer commits the ones before.
            worker = self._preparer.submit(records)
            return accepted + sum(
                self._commits.submit(self._write_prepared, worker, records, offsets)
            )
        incoming, rejected = self._decode(records)
        # DuckDB inserts and commits without the GIL while this thread fetches and decodes
        # the next batch. Batches still commit one at a time, in order.
        return accepted + sum(self._commits.submit(self._write, incoming, rejected, offsets))

    def _decode(self, records: list[KafkaRecord]) -> tuple[list[Incoming], list[Rejected]]:
        return decode_batch(records, self._settings.max_event_bytes, self._origins)

    def _gather(self) -> list[KafkaRecord]:
        """Poll until a batch is full or its latency bound passes (counted from its first
        record); nothing after a short wait. Revocations inside poll() trim the buffer."""
        assert self._consumer is not None
        self._buffer = []
        deadline: float | None = None
        while len(self._buffer) < self._settings.batch_max_records:
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
        return records

    def _write(
        self,
        incoming: list[Incoming],
        rejected: list[Rejected],
        offsets: dict[tuple[str, int], int],
    ) -> int:
        result = self._ledger.write_batch(incoming, rejected, offsets)
        return self._written(result, len(incoming) + len(rejected))

    def _write_prepared(
        self,
        worker: Worker | None,
        records: list[KafkaRecord],
        offsets: dict[tuple[str, int], int],
    ) -> int:
        decode = functools.partial(self._decode, records)
        result = write_prepared(self._ledger, worker, records, offsets, decode)
        return self._written(result, len(records))

    def _written(self, result: BatchResult, records: int) -> int:
        self.status.batches += 1
        log.debug(
            "batch: %d records, %d accepted, %d duplicates, %d dead letters",
            records,
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
        """Wait for every batch in flight to commit (raising the first LedgerError); their
        accepted."""
        return sum(self._commits.drain())
