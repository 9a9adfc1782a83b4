"""Signed log heads of ledgers fed from one topic, for the replica tests: a signing key made
with ``provledger keys create``, how many records each partition of the topic holds, and a
ledger's signed checkpoint once it covers all of them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
from kafka import KafkaConsumer, TopicPartition

from provenance_ledger.ledger.checkpoint import parse
from provenance_ledger.ledger.settings import Settings
from tests.support.servers import Running, provledger_command, server_env
from tests.support.waiting import wait_until


def create_signing_key(settings: Settings, path: Path) -> str:
    """A new key at ``path`` (named after the topic's log); its verifier key."""
    created = subprocess.run(
        [*provledger_command(), "keys", "create", "--out", str(path), "--json"],
        env=server_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    return json.loads(created.stdout)["verifier_key"]


def records_per_partition(bootstrap: str, topic: str) -> tuple[tuple[int, int], ...]:
    """(partition, records) of each non-empty partition, as a checkpoint's partitions line
    names them. The producers are idempotent, not transactional: no control records, so a
    partition's end offset is its number of records."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        ends = consumer.end_offsets(partitions)
    finally:
        consumer.close()
    return tuple(sorted((tp.partition, end) for tp, end in ends.items() if end))


def signed_head(ledger: Running, cut: tuple[tuple[int, int], ...], timeout_s: float) -> str:
    """GET /v1/ledger/checkpoint once the stored head covers exactly ``cut``."""
    last: dict[str, str] = {}

    def covers() -> str | None:
        response = httpx.get(f"{ledger.url}/v1/ledger/checkpoint", timeout=10)
        assert response.status_code == 200, response.text
        last["note"] = response.text
        return response.text if parse(response.text).partitions == cut else None

    return wait_until(covers, timeout_s, lambda: f"a head over {cut}; last: {last}", 0.5)


def verify(ledger: Running, since: Path, verifier_key: str) -> dict:
    """``provledger verify --json`` of a running ledger (through its API, which holds the
    file), the kept checkpoint's signature checked with ``verifier_key`` first."""
    result = ledger.cli("verify", "--json", "--since", str(since), "--key", verifier_key)
    return json.loads(result.stdout)
