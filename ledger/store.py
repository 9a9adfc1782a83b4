"""The DuckDB side of the ledger: one batch of records becomes one transaction.

Rows and the Kafka offsets they came from are written together (ARCHITECTURE: offsets
are data), so a crash at any instant loses nothing and projects nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import duckdb
import pyarrow as pa

from ledger import merkle
from ledger.projection import Accepted, Row, project
from schemas.codec import DecodedEvent, KafkaRecord

RAW_PREFIX_BYTES = 4096


@dataclass(frozen=True)
class Incoming:
    record: KafkaRecord
    decoded: DecodedEvent


@dataclass(frozen=True)
class Rejected:
    record: KafkaRecord | None
    reason: str
    detail: str
    source: str | None = None
    id: str | None = None
    type: str | None = None


@dataclass
class BatchResult:
    accepted: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    tables: dict[str, int] = field(default_factory=dict)


class LedgerError(RuntimeError):
    """The ledger could not write; nothing of the batch (offsets included) was committed."""


def _schema_sql() -> str:
    return resources.files("ledger").joinpath("schema.sql").read_text()


def _views_sql() -> str:
    """Every ``ledger/views/*.sql``, in name order (each file one area of questions)."""
    views = resources.files("ledger").joinpath("views")
    files = sorted((f for f in views.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return "\n".join(f.read_text() for f in files)


class Ledger:
    """One DuckDB file. The owner writes through :meth:`write_batch`; readers take cursors."""

    def __init__(self, path: str | Path, read_only: bool = False) -> None:
        self.path = str(path)
        if not read_only and self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # One instant, one spelling: every session reads times in UTC.
        self._conn = duckdb.connect(self.path, read_only=read_only, config={"TimeZone": "UTC"})
        self._write_lock = threading.Lock()
        if not read_only:
            self._conn.execute(_schema_sql())
            self._conn.execute(_views_sql())
        self._next_seq = self._conn.execute(
            "SELECT coalesce(max(seq), -1) + 1 FROM events"
        ).fetchone()[0]

    def close(self) -> None:
        self._conn.close()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for one thread: the shared connection is not thread-safe."""
        return self._conn.cursor()

    @property
    def size(self) -> int:
        return self._next_seq

    def committed_offsets(self, topic: str) -> dict[int, int]:
        rows = (
            self.cursor()
            .execute(
                "SELECT kafka_partition, next_offset FROM kafka_offsets WHERE topic = ?", [topic]
            )
            .fetchall()
        )
        return dict(rows)

    def counts(self) -> tuple[int, int]:
        events, dead = (
            self.cursor()
            .execute("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM dead_letters)")
            .fetchone()
        )
        return events, dead

    def write_batch(
        self,
        incoming: list[Incoming],
        rejected: list[Rejected],
        offsets: dict[tuple[str, int], int],
    ) -> BatchResult:
        with self._write_lock:
            cur = self.cursor()
            cur.begin()
            try:
                result = self._write(cur, incoming, rejected, offsets)
                cur.commit()
            except Exception as exc:
                cur.rollback()
                self._next_seq = cur.execute(
                    "SELECT coalesce(max(seq), -1) + 1 FROM events"
                ).fetchone()[0]
                raise LedgerError(f"could not write a batch to {self.path}: {exc}") from exc
            return result

    def _write(
        self,
        cur: duckdb.DuckDBPyConnection,
        incoming: list[Incoming],
        rejected: list[Rejected],
        offsets: dict[tuple[str, int], int],
    ) -> BatchResult:
        result = BatchResult()
        known = self._known_hashes(cur, incoming)
        accepted: list[Accepted] = []
        event_rows: list[Row] = []
        dead = list(rejected)
        now = datetime.now(UTC)
        for item in incoming:
            event = item.decoded.event
            content_hash = item.decoded.content_hash
            previous = known.get(event.key)
            if previous is not None:
                if previous == content_hash:
                    result.duplicates += 1
                else:
                    dead.append(
                        Rejected(
                            item.record,
                            "conflicting_duplicate",
                            f"({event.source}, {event.id}) was already accepted with other content",
                            event.source,
                            event.id,
                            event.type,
                        )
                    )
                continue
            known[event.key] = content_hash
            seq = self._next_seq + len(accepted)
            accepted.append(Accepted(seq, item.decoded))
            canonical = item.decoded.canonical
            event_rows.append(
                {
                    "seq": seq,
                    "source": event.source,
                    "id": event.id,
                    "type": event.type,
                    "time": event.time,
                    "subject": event.subject,
                    "data": json.dumps(event.data) if event.data is not None else None,
                    "attributes": json.dumps(event.extensions, default=str),
                    "content_hash": content_hash,
                    "leaf_hash": merkle.leaf_hash(canonical),
                    "topic": item.record.topic,
                    "kafka_partition": item.record.partition,
                    "kafka_offset": item.record.offset,
                    "ingested_at": now,
                }
            )
        if event_rows:
            self._insert(cur, "events", event_rows)
        for table, rows in project(accepted).items():
            self._insert(cur, table, rows)
            result.tables[table] = len(rows)
        if dead:
            self._insert(cur, "dead_letters", [_dead_row(item, now) for item in dead])
        for (topic, partition), next_offset in offsets.items():
            # Forward only: a stale batch must never move a stored offset back.
            cur.execute(
                "INSERT INTO kafka_offsets VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                "next_offset = greatest(kafka_offsets.next_offset, excluded.next_offset), "
                "updated_at = excluded.updated_at",
                [topic, partition, next_offset, now],
            )
        self._next_seq += len(accepted)
        result.accepted = len(accepted)
        result.dead_letters = len(dead)
        return result

    @staticmethod
    def _known_hashes(
        cur: duckdb.DuckDBPyConnection, incoming: list[Incoming]
    ) -> dict[tuple[str, str], str]:
        if not incoming:
            return {}
        keys = pa.table(
            {
                "source": [item.decoded.event.source for item in incoming],
                "id": [item.decoded.event.id for item in incoming],
            }
        )
        cur.register("batch_keys", keys)
        try:
            found = cur.execute(
                "SELECT e.source, e.id, e.content_hash FROM events e "
                "JOIN (SELECT DISTINCT source, id FROM batch_keys) k USING (source, id)"
            ).fetchall()
        finally:
            cur.unregister("batch_keys")
        return {(source, id_): content_hash for source, id_, content_hash in found}

    @staticmethod
    def _insert(cur: duckdb.DuckDBPyConnection, table: str, rows: list[Row]) -> None:
        batch = pa.Table.from_pylist(rows)
        cur.register("batch_rows", batch)
        try:
            cur.execute(f"INSERT INTO {table} BY NAME SELECT * FROM batch_rows")
        finally:
            cur.unregister("batch_rows")


def _dead_row(item: Rejected, now: datetime) -> Row:
    raw = item.record.value if item.record is not None and item.record.value else b""
    return {
        "reason": item.reason,
        "detail": item.detail,
        "source": item.source,
        "id": item.id,
        "type": item.type,
        "raw_prefix": raw[:RAW_PREFIX_BYTES],
        "raw_size": len(raw),
        "raw_sha256": hashlib.sha256(raw).hexdigest(),
        "topic": item.record.topic if item.record else None,
        "kafka_partition": item.record.partition if item.record else None,
        "kafka_offset": item.record.offset if item.record else None,
        "received_at": now,
    }
