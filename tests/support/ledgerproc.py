"""Helpers for the ledger's integration tests: fill a ledger file, run the real CLI and a real
``provledger serve`` subprocess against it, produce records to the real broker."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterable
from pathlib import Path

import duckdb
import httpx
from kafka import KafkaProducer

from provenance_ledger.ledger.batch import Incoming
from provenance_ledger.ledger.consumer import LedgerConsumer
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.schemas.codec import DecodedEvent, KafkaRecord
from tests.support.servers import provledger_command

Message = tuple[bytes | None, list[tuple[str, bytes]], bytes]


def fill(ledger: Ledger, events: Iterable[DecodedEvent], batch: int = 500) -> None:
    """Write events as the consumer would (fake Kafka coordinates), in batches."""
    pending: list[Incoming] = []
    offset = ledger.committed_offsets("t").get(0, 0)
    for decoded in events:
        record = KafkaRecord("t", 0, offset, None, decoded.canonical)
        pending.append(Incoming(record, decoded))
        offset += 1
        if len(pending) == batch:
            ledger.write_batch(pending, [], {("t", 0): offset})
            pending = []
    if pending:
        ledger.write_batch(pending, [], {("t", 0): offset})


def run_sql(path: Path, *statements: str) -> None:
    """Run statements straight on a ledger file (as someone tampering with it would)."""
    with duckdb.connect(str(path)) as conn:
        for statement in statements:
            conn.execute(statement)


def cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*provledger_command(), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def start_serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    """``provledger serve`` writing its output to ``log`` (read after it stops)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [*provledger_command(), "serve", "--port", str(port)], env=env, stdout=out, stderr=out
        )


def health(port: int) -> dict | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return None


def produce(bootstrap: str, topic: str, messages: Iterable[Message]) -> int:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, batch_size=256 * 1024, acks="all"
    )
    sent = 0
    try:
        for key, headers, value in messages:
            producer.send(topic, key=key, value=value, headers=headers)
            sent += 1
        producer.flush(timeout=120)
    finally:
        producer.close()
    return sent


class ConsumerThread:
    """A LedgerConsumer in a thread of this process (as `provledger serve` runs it)."""

    def __init__(self, ledger: Ledger, settings: Settings) -> None:
        self.consumer = LedgerConsumer(ledger, settings)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None
        self.thread.start()

    def _run(self) -> None:
        try:
            self.consumer.run()
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    def stop(self) -> None:
        self.consumer.stop()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the consumer did not stop"
        if self.error is not None:
            raise self.error


def duplicates(ledger: Ledger) -> int:
    return (
        ledger.cursor()
        .execute(
            "SELECT count(*) FROM (SELECT source, id FROM events GROUP BY ALL HAVING count(*) > 1)"
        )
        .fetchone()[0]
    )
