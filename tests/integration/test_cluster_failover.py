"""A real three-broker cluster (``provledger kafka start --brokers 3``) losing the leader of a
partition to SIGKILL mid-stream: the Emitter's acks=all deliveries hold, and two ledger
replicas (two ``provledger serve``, own files, own groups) ride through the leader changes to
the same events, each stored once, the same signed log head and the same answers."""

from __future__ import annotations

import os
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest
from kafka import KafkaAdminClient

from provenance_ledger.ledger import localkafka_cluster
from provenance_ledger.ledger.checkpoint import origin_for, parse
from provenance_ledger.ledger.localkafka_cluster import ClusterStatus
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.topic import ensure_topic
from provenance_ledger.producers.emitter import Emitter, to_spooled
from provenance_ledger.producers.spool import Spool
from provenance_ledger.schemas.codec import DecodedEvent
from tests.support.provstory import Story, sha
from tests.support.servers import Running, Servers
from tests.support.signedheads import (
    create_signing_key,
    records_per_partition,
    signed_head,
    verify,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.kafka

if shutil.which("java") is None and not os.environ.get("CI"):
    pytest.skip("no Java: the local Kafka cluster cannot run here", allow_module_level=True)

REPOS = ["shop/checkout", "shop/search", "shop/payments"]
SERVICES = ["checkout", "search", "payments"]
AI = {"tool": "claude-code", "model": "claude-sonnet-4-5", "mode": "agent"}
CHANGES = 180
BATCH = 6


def _free_port_run() -> int:
    """A port p from 29092 up with p..p+5 free (three clients, three controllers); below the
    ephemeral range, where probing an unused port can connect a socket to itself."""
    for port in range(29092, 29692, 6):
        sockets = [socket.socket() for _ in range(6)]
        try:
            for offset, sock in enumerate(sockets):
                sock.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return port
    raise RuntimeError("no six free ports in 29092..29691")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterStatus]:
    data = tmp_path_factory.mktemp("cluster")
    try:
        yield localkafka_cluster.start(_free_port_run(), data, timeout=180)
    finally:
        localkafka_cluster.stop(data)  # never leave a JVM behind


def story() -> list[DecodedEvent]:
    """Changes on three repos (a third by an agent), reviews, deploys of three services (so
    every partition gets traffic), an incident on checkout and its attribution."""
    s = Story()
    for who in ("dev@shop.example", "lead@shop.example"):
        s.person(who, "senior")
    for n in range(CHANGES):
        extra = {"ai": [{**AI, "session": f"s-{n}"}]} if n % 3 == 0 else {}
        s.change(n, "dev@shop.example", -900 + n, repo=REPOS[n % 3], **extra)
        if n % 2 == 0:
            s.review(n, "lead@shop.example", -880 + n, repo=REPOS[n % 3])
        if n % 4 == 0:
            service = SERVICES[n % 3]
            s.deploy(f"dep-{n}", service, "prod", -400 + n, repo=REPOS[n % 3], commit=sha(n))
    s.incident("INC-1", ["checkout"], resolved=40)
    s.attribute("INC-1", "confirmed", 45, deployment="dep-168")
    return s.events


class Stream:
    """The producers' path (producers/delivery.py) in small batches: the Emitter (acks=all)
    sends, what the broker does not acknowledge in time is spooled, and the spool is drained
    (in order) before the next batch and at the end. Unlike delivery.deliver it keeps the
    producer after a timeout: its Emitter.abort() raises on records still in flight."""

    def __init__(self, emitter: Emitter, spool: Spool) -> None:
        self.emitter, self.spool = emitter, spool
        self.acknowledged = self.spooled = 0

    def send(self, events: list[DecodedEvent]) -> None:
        for start in range(0, len(events), BATCH):
            batch = events[start : start + BATCH]
            if self.spool.pending():
                self.acknowledged += self.spool.drain(self.emitter.deliver_spooled).delivered
            if self.spool.pending():
                self.spool.append([to_spooled(decoded, "json") for decoded in batch])
                self.spooled += len(batch)
                continue
            acked = self.emitter.publish_batch([(decoded, "json") for decoded in batch])
            self.acknowledged += acked
            self.spool.append([to_spooled(decoded, "json") for decoded in batch[acked:]])
            self.spooled += len(batch) - acked
            time.sleep(0.02)  # a stream, not a burst: the kill lands while the ledgers consume

    def flush(self) -> None:
        def drained() -> bool:
            self.acknowledged += self.spool.drain(self.emitter.deliver_spooled).delivered
            return self.spool.pending() == 0

        wait_until(drained, 90, lambda: f"the spool to drain ({self.spool.pending()} left)")


def partition_0(admin: KafkaAdminClient, topic: str) -> dict:
    (described,) = admin.describe_topics([topic])
    return next(p for p in described["partitions"] if p["partition_index"] == 0)


def stored_ids(db: Path) -> dict[tuple[str, str], int]:
    with duckdb.connect(str(db), read_only=True) as conn:
        rows = conn.execute("SELECT source, id, count(*) FROM events GROUP BY ALL").fetchall()
    return {(source, event_id): count for source, event_id, count in rows}


def log_outcomes(db: Path) -> list[tuple]:
    """Each record of the log with what the ledger made of it (accepted, duplicate, dead
    letter): the leaf does not say, so equal heads alone do not prove the same outcomes."""
    with duckdb.connect(str(db), read_only=True) as conn:
        return conn.execute(
            "SELECT kafka_partition, idx, kafka_offset, leaf_hash, outcome FROM log_records "
            "ORDER BY kafka_partition, idx"
        ).fetchall()


SUSPECTS = ("/v1/incidents/INC-1/suspects", {"limit": 100, "lookback": "7d"})


def answers(server: Running) -> dict[tuple, object]:
    """The read answers by (path, query); the query goes as params (Running.get replaces a
    query string written into the path with its own)."""
    asked: list[tuple[str, dict]] = [
        SUSPECTS,
        ("/v1/incidents/INC-1", {}),
        ("/v1/deployments", {"limit": 1000}),
        ("/v1/metrics/change-failure-rate", {"by": "ai_tool"}),
        ("/v1/metrics/change-failure-rate", {"by": "review"}),
        *((f"/v1/commits/{sha(n)}", {}) for n in (0, 1, 2, 100, 168, CHANGES - 1)),
    ]
    found: dict[tuple, object] = {}
    for path, params in asked:
        response = server.get(path, **params)
        assert response.status_code == 200, (path, params, response.text)
        found[path, tuple(params.items())] = response.json()
    return found


def test_a_leader_killed_mid_stream_loses_and_doubles_no_event(
    cluster: ClusterStatus, tmp_path: Path
) -> None:
    topic = f"failover-{uuid.uuid4().hex}"
    base = replace(
        Settings(),
        kafka_bootstrap=cluster.bootstrap,
        topic=topic,
        topic_partitions=3,
        topic_replication=3,
    )
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    servers: list[Servers] = []
    try:
        assert ensure_topic(admin, base)
        assert len(partition_0(admin, topic)["replica_nodes"]) == 3
        replicas = [
            replace(base, db_path=tmp_path / f"ledger-{n}.duckdb", group_id=f"{topic}-{n}")
            for n in (1, 2)
        ]
        key_file = tmp_path / "signing.key"
        verifier_key = create_signing_key(replicas[0], key_file)
        servers = [Servers(settings) for settings in replicas]
        env = {"PROVLEDGER_TOPIC_PARTITIONS": "3", "PROVLEDGER_SIGNING_KEY_FILE": str(key_file)}
        ledgers = [srv.start(env) for srv in servers]

        events = story()
        third = len(events) // 3
        with Emitter(cluster.bootstrap, topic, fmt="json", timeout_s=3) as emitter:
            stream = Stream(emitter, Spool(tmp_path / "spool"))
            stream.send(events[:third])
            for ledger in ledgers:  # both consume when the leader dies
                ledger.wait_for_events(1)
            victim = partition_0(admin, topic)["leader_id"]
            assert localkafka_cluster.stop(cluster.data_dir, only=victim, kill=True)
            assert [n.node for n in localkafka_cluster.status(cluster.data_dir).nodes
                    if not n.running] == [victim]  # fmt: skip
            stream.send(events[third : 2 * third])
            # The ledgers' consumers and the emitter must find the partition's new leader.
            wait_until(
                lambda: partition_0(admin, topic)["leader_id"] not in (victim, -1),
                30,
                "a new leader of partition 0",
            )
            restarted = localkafka_cluster.start(
                localkafka_cluster.first_port(cluster.data_dir), cluster.data_dir, only=victim
            )
            assert restarted.running
            stream.send(events[2 * third :])
            stream.flush()

        # Every event acknowledged once: none lost, none counted twice.
        assert stream.acknowledged == len(events), (stream.acknowledged, stream.spooled)
        # Both replicas consumed every record of the topic (duplicates a retry left included):
        # the same signed note, byte for byte (Ed25519 signatures are deterministic).
        cut = records_per_partition(cluster.bootstrap, topic)
        assert [partition for partition, _ in cut] == [0, 1, 2]
        notes = [signed_head(ledger, cut, timeout_s=120) for ledger in ledgers]
        assert notes[0] == notes[1], notes
        head = parse(notes[0])
        assert (head.origin, head.size) == (origin_for(topic), sum(n for _, n in cut))
        for ledger in ledgers:
            health = ledger.wait_for_events(len(events), timeout_s=30)
            assert health["events"] == len(events) and health["dead_letters"] == 0
        # Each verifies, its recomputed head being the other's signed one.
        kept = [tmp_path / f"checkpoint-{n}.txt" for n in (1, 2)]
        for path, note in zip(kept, notes, strict=True):
            path.write_text(note)
        for ledger, since in zip(ledgers, reversed(kept), strict=True):
            report = verify(ledger, since, verifier_key)
            assert report["ok"] and report["consistent"], report
            assert report["signed_checkpoint"] == notes[0]
        first, second = (answers(ledger) for ledger in ledgers)
        suspects = first[SUSPECTS[0], tuple(SUSPECTS[1].items())]["suspects"]
        assert len(suspects) > 10  # past the default limit: the whole ranking is compared
        assert first == second
    finally:
        for srv in servers:
            srv.stop_all()
        admin.close()

    expected = {(d.event.source, d.event.id) for d in events}
    for settings in replicas:
        counts = stored_ids(settings.db_path)
        assert set(counts) == expected, settings.db_path
        assert [key for key, count in counts.items() if count != 1] == []
    assert log_outcomes(replicas[0].db_path) == log_outcomes(replicas[1].db_path)
