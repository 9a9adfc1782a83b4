"""Exactly-once projection on the real broker and a real DuckDB file.

(a) 50,000 events produced while `provledger serve` is SIGKILLed at random moments (at least
five times) and restarted: exactly 50,000 stored, no duplicate (source, id), verify passes.
(c) two consumers of one group, one leaving mid-stream: exact count. Two `provledger serve`
processes cannot open one DuckDB file (one writer per file), so the two group members are
two LedgerConsumers in one process sharing one Ledger, as they would inside one server; the
Ledger's write lock serialises their batches.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from tests.support import eventmix
from tests.support.ledgerproc import ConsumerThread, cli, duplicates, health, produce, start_serve
from tests.support.servers import free_port, server_env
from tests.support.waiting import wait_until

TOTAL = 50_000
KILLS = 6


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
    settings: Settings, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    settings = replace(settings, topic=topic_factory(partitions=3))
    messages = list(eventmix.messages(TOTAL, fmt="json", seed=7))
    producer = threading.Thread(
        target=produce, args=(settings.kafka_bootstrap, settings.topic, messages), daemon=True
    )
    port = free_port()
    env = server_env(settings, port)
    log = tmp_path / "serve.log"
    rng = random.Random(42)
    # Kill points spread over the stream by progress, not by clock, so they land mid-stream
    # however fast ingestion is.
    targets = sorted(int(rng.uniform(0.05, 0.9) * TOTAL) for _ in range(KILLS))
    producer.start()
    stored_at_kill: list[int] = []
    for target in targets:
        server = start_serve(env, port, log)
        before = stored_at_kill[-1] if stored_at_kill else 0

        def ingesting(before: int = before, target: int = target) -> bool:
            state = health(port)
            if state is None:
                return False
            return state["events"] >= TOTAL or state["events"] > max(before, target)

        # Kill while batches are being written: after this run stored something, at a
        # random moment (mid-decode, mid-transaction, mid-commit).
        wait_until(ingesting, 60, f"serve to ingest (log: {log})")
        time.sleep(rng.uniform(0.0, 0.3))
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        stored_at_kill.append(_stored(settings.db_path))
    producer.join(timeout=300)
    mid_stream = [n for n in stored_at_kill if n < TOTAL]
    assert len(mid_stream) >= 5, f"kills did not land mid-stream: {stored_at_kill}"
    assert not producer.is_alive(), "producing 50,000 events took too long"

    server = start_serve(env, port, log)
    try:

        def caught_up() -> bool:
            state = health(port)
            return state is not None and state["events"] + state["dead_letters"] >= TOTAL

        wait_until(caught_up, 300, f"{TOTAL} events (log: {log})")
        time.sleep(1)  # anything beyond TOTAL would be a duplicate: give it a moment
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)

    ledger = Ledger.open(settings.db_path, read_only=True)
    try:
        assert ledger.counts() == (TOTAL, 0)
        assert duplicates(ledger) == 0
        stored = dict(
            ledger.cursor()
            .execute("SELECT kafka_partition, next_offset FROM kafka_offsets")
            .fetchall()
        )
        assert sum(stored.values()) == TOTAL
    finally:
        ledger.close()
    verified = cli(env, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # Every record of the topic is in the log once: a record re-read after a kill is not
    # appended again.
    assert verified.stdout.startswith(f"ok: {TOTAL} records ({TOTAL} events), root ")


def _stored(path: Path) -> int:
    ledger = Ledger.open(path, read_only=True)
    try:
        return ledger.counts()[0]
    finally:
        ledger.close()


def test_two_consumers_in_one_group_one_leaving_mid_stream(
    settings: Settings, topic_factory: Callable[..., str]
) -> None:
    settings = replace(settings, topic=topic_factory(partitions=4), batch_max_records=500)
    first, second = 6_000, 4_000
    messages = list(eventmix.messages(first + second, fmt="avro", seed=8))
    ledger = Ledger.open(settings.db_path, migrate=True)
    try:
        staying = ConsumerThread(ledger, settings)
        leaving = ConsumerThread(ledger, settings)
        # Lag is reported per assigned partition: both members hold some.
        wait_until(
            lambda: bool(staying.consumer.status.lag) and bool(leaving.consumer.status.lag),
            60,
            "both consumers to be assigned partitions",
        )
        produce(settings.kafka_bootstrap, settings.topic, messages[:first])
        wait_until(lambda: ledger.counts()[0] >= first // 3, 60, "a third of the first half")
        leaving.stop()  # leaves the group mid-stream: its partitions move to `staying`
        produce(settings.kafka_bootstrap, settings.topic, messages[first:])
        wait_until(lambda: ledger.counts()[0] >= first + second, 120, "every event")
        time.sleep(1)
        staying.stop()
        assert ledger.counts() == (first + second, 0)
        assert duplicates(ledger) == 0
        assert leaving.consumer.status.batches > 0, "the leaving consumer never took part"
    finally:
        ledger.close()


def test_members_of_one_group_keep_their_partitions_once_joined(
    settings: Settings, topic_factory: Callable[..., str]
) -> None:
    """kafka-python's leader rejoins when its metadata shows other partitions than it assigned
    from. A consumer that fetched metadata before subscribing remembered none, rejoined at the
    next refresh and held no partitions until the other member noticed: in the test above the
    leaving member could sit out the whole first half."""
    settings = replace(settings, topic=topic_factory(partitions=4))
    ledger = Ledger.open(settings.db_path, migrate=True)
    members = [ConsumerThread(ledger, settings) for _ in range(2)]
    assignments = [0, 0]
    try:
        for n, member in enumerate(members):
            seek = member.consumer.seek_to_ledger

            def counting(partitions, seek=seek, n=n) -> None:
                assignments[n] += 1
                seek(partitions)

            member.consumer.seek_to_ledger = counting
        wait_until(
            lambda: all(m.consumer.status.lag and not m.consumer.claim_due for m in members),
            60,
            "both members to be assigned partitions and to claim the group",
        )
        joined = list(assignments)
        # Past the consumers' metadata refresh (metadata_max_age_ms=5000).
        time.sleep(8)
        assert assignments == joined, "a member rejoined the group after a metadata refresh"
    finally:
        for member in members:
            member.stop()
        ledger.close()
