"""The ledger owns its topic and its consumer group, and /healthz tells a stuck consumer
from an idle one (issue 12, items 6 and 7). Real broker, real DuckDB, real `serve`."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import ConfigResource, ConfigResourceType

from provenance_ledger.ledger.consumer import LedgerConsumer
from provenance_ledger.ledger.health import problem
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from tests.support import eventmix
from tests.support.ledgerproc import ConsumerThread, produce, start_serve
from tests.support.servers import free_port, server_env
from tests.support.waiting import wait_until

pytestmark = pytest.mark.kafka


def _fresh(settings: Settings, tmp_path: Path, name: str, **changes) -> Settings:
    return replace(settings, db_path=tmp_path / f"{name}.duckdb", **changes)


def _describe(bootstrap: str, topic: str) -> tuple[int, dict[str, str]]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        partitions = len(admin.describe_topics([topic])[0]["partitions"])
        keys = ("retention.ms", "retention.bytes", "cleanup.policy")
        resource = ConfigResource(ConfigResourceType.TOPIC, topic, configs=dict.fromkeys(keys))
        entries = admin.describe_configs([resource], config_filter="all")["topic"][topic]
        return partitions, {key: entries[key]["value"] for key in keys}
    finally:
        admin.close()


def test_the_ledger_creates_its_topic_keeping_everything_and_reads_at_once(
    settings: Settings, tmp_path: Path
) -> None:
    topic = f"test.owned.{uuid.uuid4().hex[:10]}"
    settings = _fresh(settings, tmp_path, "own", topic=topic, topic_partitions=3)
    ledger = Ledger.open(settings.db_path, migrate=True)
    try:
        consumer = ConsumerThread(ledger, settings)
        assert consumer.consumer.ready.wait(60)
        assert _describe(settings.kafka_bootstrap, topic) == (
            3,
            {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"},
        )
        produce(settings.kafka_bootstrap, topic, eventmix.messages(1, fmt="json", seed=1))
        # Generous: the figure (under 2 s) is measured by bench/bench_idle.py.
        wait_until(lambda: ledger.counts()[0] == 1, 10, "the first event")
        consumer.stop()
    finally:
        ledger.close()


def _serve_refusal(settings: Settings, tmp_path: Path) -> str:
    """Run `provledger serve` and return what it printed when it exited (it must exit)."""
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    process = start_serve(server_env(settings), port, log)
    try:
        code = process.wait(timeout=90)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"serve did not refuse to start:\n{log.read_text()}") from None
    assert code != 0
    return log.read_text()


def test_a_topic_that_deletes_history_is_refused_naming_the_setting(
    settings: Settings, tmp_path: Path
) -> None:
    topic = f"test.weekly.{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        admin.create_topics(
            {topic: {"num_partitions": 1, "configs": {"retention.ms": "604800000"}}}
        )
    finally:
        admin.close()
    output = _serve_refusal(_fresh(settings, tmp_path, "weekly", topic=topic), tmp_path)
    assert "retention.ms=604800000" in output
    assert "PROVLEDGER_TOPIC" in output


def test_a_second_ledger_file_in_the_same_group_is_refused(
    settings: Settings, tmp_path: Path
) -> None:
    first = Ledger.open(_fresh(settings, tmp_path, "first").db_path, migrate=True)
    try:
        running = ConsumerThread(first, _fresh(settings, tmp_path, "first"))
        produce(settings.kafka_bootstrap, settings.topic, eventmix.messages(5, fmt="json", seed=2))
        wait_until(lambda: first.counts()[0] == 5, 60, "the first ledger to read")
        wait_until(lambda: not running.consumer.claim_due, 30, "the first ledger's claim")
        # The second ledger file names the same group: it must refuse, not split partitions.
        output = _serve_refusal(_fresh(settings, tmp_path, "second"), tmp_path)
        assert "PROVLEDGER_GROUP" in output and settings.group_id in output
        assert first.ledger_id in output
        running.stop()
    finally:
        first.close()
    # The same group's claim stays after the first ledger stops: still refused.
    assert "PROVLEDGER_GROUP" in _serve_refusal(_fresh(settings, tmp_path, "third"), tmp_path)


def test_by_default_two_ledger_files_get_their_own_groups_and_every_event(
    settings: Settings, tmp_path: Path, topic_factory
) -> None:
    topic = topic_factory(partitions=3)
    ledgers, consumers = [], []
    try:
        for name in ("a", "b"):
            ledger = Ledger.open(tmp_path / f"{name}.duckdb", migrate=True)
            ledgers.append(ledger)
            per_file = _fresh(settings, tmp_path, name, topic=topic, group_id=None)
            consumers.append(ConsumerThread(ledger, per_file))
        assert consumers[0].consumer.group_id != consumers[1].consumer.group_id
        messages = list(eventmix.messages(300, fmt="avro", seed=5))
        assert len({key for key, _, _ in messages}) > 3  # keys spread over the 3 partitions
        produce(settings.kafka_bootstrap, topic, messages)
        for ledger in ledgers:
            wait_until(lambda ledger=ledger: ledger.counts()[0] == 300, 90, "every event")
    finally:
        for consumer in consumers:
            consumer.stop()
        for ledger in ledgers:
            ledger.close()


class _WedgedOnce(LedgerConsumer):
    """Its first consumer joins the group but reads another topic: connected, heartbeating,
    and never ingesting, as the wedged consumer of the issue did."""

    made = 0

    def _connect(self) -> KafkaConsumer:
        consumer = super()._connect()
        self.made += 1
        if self.made == 1:
            consumer.unsubscribe()
            consumer.subscribe([f"test.elsewhere.{uuid.uuid4().hex[:8]}"])
        return consumer


def test_a_stuck_consumer_is_reported_and_recreated(settings: Settings, tmp_path: Path) -> None:
    settings = _fresh(settings, tmp_path, "stuck", stall_after_s=3.0)
    ledger = Ledger.open(settings.db_path, migrate=True)
    try:
        consumer = _WedgedOnce(ledger, settings)
        thread = threading.Thread(target=consumer.run, daemon=True)
        thread.start()
        produce(settings.kafka_bootstrap, settings.topic, eventmix.messages(20, fmt="json", seed=6))
        reasons: list[str] = []

        def stalled() -> bool:
            reason = problem(consumer.status, time.monotonic(), settings.stall_after_s)
            if reason:
                reasons.append(reason)
            return bool(reason) or ledger.counts()[0] == 20

        wait_until(stalled, 30, "the stall to show")
        assert reasons, "the wedged consumer was never reported"
        wait_until(lambda: ledger.counts()[0] == 20, 60, "every event after the recreation")
        assert consumer.status.recreated == 1
        assert problem(consumer.status, time.monotonic(), settings.stall_after_s) is None
        consumer.stop()
        thread.join(timeout=30)
    finally:
        ledger.close()


def test_healthz_is_503_with_the_reason_when_the_consumer_cannot_run(
    settings: Settings, tmp_path: Path
) -> None:
    # A broker that is not there: the API serves, but says the ledger is not ingesting.
    settings = _fresh(settings, tmp_path, "nobroker", kafka_bootstrap="127.0.0.1:1")
    env = {**server_env(settings), "PROVLEDGER_STALL_S": "2"}
    port = free_port()
    process = start_serve(env, port, tmp_path / "nobroker.log")
    try:

        def answer() -> httpx.Response | None:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            except httpx.HTTPError:
                return None

        wait_until(lambda: answer() is not None, 90, "serve to answer")
        wait_until(lambda: answer().status_code == 503, 30, "/healthz to say degraded")
        body = answer().json()
        assert body["status"] == "degraded"
        assert "127.0.0.1:1" in body["reason"]
        assert {"events", "dead_letters", "lag"} <= body.keys()
    finally:
        process.terminate()
        process.wait(timeout=30)
