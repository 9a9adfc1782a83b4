"""The DuckDB side of the ledger: one batch of records becomes one transaction.

Rows, the Merkle nodes they complete and the Kafka offsets they came from are written
together (ARCHITECTURE: offsets are data), so a crash at any instant loses nothing and
projects nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from provenance_ledger.ledger import commit_facts, identity, merkle
from provenance_ledger.ledger.keyindex import KeyIndex, key_hashes
from provenance_ledger.ledger.projection import (
    Accepted,
    Columns,
    Row,
    Rows,
    TableShape,
    project_checked,
    project_columns,
)
from provenance_ledger.ledger.settings import MEMORY_SIZE
from provenance_ledger.query.cli.install import runnable
from provenance_ledger.schemas.codec import DecodedEvent, KafkaRecord
from provenance_ledger.schemas.errors import LocalFailure

log = logging.getLogger(__name__)
RAW_PREFIX_BYTES = 4096
MAX_DETAIL_CHARS = 2000
CHECKPOINT_THRESHOLD = "64MB"
ENVELOPE_ATTRIBUTES = ("specversion", "id", "source", "type", "time", "subject", "dataschema")
# Extension attributes = the canonical event minus the envelope attributes and data.
_NOT_EXTENSIONS = json.dumps(dict.fromkeys((*ENVELOPE_ATTRIBUTES, "data")))
# The time column each table gets from the batch's commit time.
STAMPED = {"events": "ingested_at", "dead_letters": "received_at"}
EVENT_JSON_COLUMNS = (
    ", json_extract(canonical, '$.data') AS data"
    f", json_merge_patch(canonical, '{_NOT_EXTENSIONS}') AS attributes"
)


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


class LedgerError(RuntimeError, LocalFailure):
    """The ledger could not write; nothing of the batch (offsets included) was committed."""


def _schema_sql() -> str:
    return resources.files("provenance_ledger.ledger").joinpath("schema.sql").read_text()


def _views_sql() -> str:
    """Every ``ledger/views/*.sql``, in name order (each file one area of questions)."""
    views = resources.files("provenance_ledger.ledger").joinpath("views")
    files = sorted((f for f in views.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return "\n".join(f.read_text() for f in files)


class Ledger:
    """One DuckDB file. The owner writes through :meth:`write_batch`; readers take cursors."""

    def __init__(
        self, path: str | Path, read_only: bool = False, memory_limit: str | None = None
    ) -> None:
        """``memory_limit``: DuckDB's, such as ``"512MB"``; None keeps DuckDB's default."""
        if memory_limit is not None and not MEMORY_SIZE.match(memory_limit):
            raise ValueError(f"not a memory size: {memory_limit!r} (such as 512MB or 2GB)")
        self.path = str(path)
        if not read_only and self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # One instant, one spelling: every session reads times in UTC.
        self._conn = duckdb.connect(self.path, read_only=read_only)
        # Set after connecting: DuckDB 2.0.1 refuses TimeZone in connect()'s config.
        self._conn.execute("SET GLOBAL TimeZone = 'UTC'")
        if memory_limit is not None:
            self._conn.execute(f"SET memory_limit = '{memory_limit}'")
        self._write_lock = threading.Lock()
        # Which ledger this file is (ledger/identity.py); readers do not need it.
        self.ledger_id: str | None = None
        if not read_only:
            # Each checkpoint rewrites the partly filled last row group of every table. At the
            # 16 MB default that is about ten rewrites per row group of events, and commits
            # (checkpoints included) cost ~40 µs per event in the ingest ceiling; 22 at 64 MB.
            self._conn.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
            self._conn.execute(_schema_sql())
            # Indexes for the incident queries (owned by query/; see ledger/indexes.sql).
            self._conn.execute(
                resources.files("provenance_ledger.ledger").joinpath("indexes.sql").read_text()
            )
            self._conn.execute(_views_sql())
            commit_facts.catch_up(self._conn)
            self.ledger_id = identity.ensure_id(self._conn)
        cur = self.cursor()
        self._tree = load_tree(cur)
        # Loaded on the first write: readers never need it.
        self._keys: KeyIndex | None = None
        stored = cur.execute("SELECT coalesce(max(seq), -1) + 1 FROM events").fetchone()[0]
        if not read_only and stored != self._tree.size:
            raise LedgerError(
                f"{self.path}: the Merkle log covers {self._tree.size} events but the events "
                f"table ends at seq {stored - 1}; the file was changed outside the ledger. "
                f"Run `{runnable('verify')}` to find the row, then `{runnable('rebuild')}`."
            )

    def close(self) -> None:
        self._conn.close()

    def adopt_identity_of(self, path: str | Path) -> None:
        """Take the ledger id of the file at ``path`` (a rebuild replaces that file), so the
        rebuilt ledger keeps its consumer group and its claim on it."""
        other = identity.read(str(path))
        if other is not None:
            identity.adopt(self._conn, other)
            self.ledger_id = other[0]

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for one thread: the shared connection is not thread-safe."""
        return self._conn.cursor()

    @property
    def size(self) -> int:
        """Events in the Merkle log (the next event's seq)."""
        return self._tree.size

    def head(self) -> tuple[int, bytes]:
        """The committed tree size and RFC 6962 root."""
        tree = self._tree
        return tree.size, tree.root()

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
        """Write one batch in one transaction. If it fails, it is retried checking event by
        event: an event whose own work fails (a bug, or a poison pill the decoder let through)
        becomes a dead letter (``internal_error``; ``projection_failed`` when only its
        projection rows fail) and its neighbours are written. A failure of the transaction
        itself (disk full) raises LedgerError with nothing committed."""
        with self._write_lock:
            try:
                return self._transaction(incoming, rejected, offsets, careful=False)
            except Exception as exc:
                log.warning("batch refused (%s); retrying it event by event", exc)
            try:
                return self._transaction(incoming, rejected, offsets, careful=True)
            except Exception as exc:
                raise _ledger_error(self.path, exc) from exc

    def _transaction(
        self,
        incoming: list[Incoming],
        rejected: list[Rejected],
        offsets: dict[tuple[str, int], int],
        careful: bool,
    ) -> BatchResult:
        cur = self.cursor()
        if self._keys is None:
            self._keys = KeyIndex.load(cur)
        cur.begin()
        tree = self._tree.copy()
        added: list[np.ndarray] = []
        try:
            result = self._write(cur, tree, incoming, rejected, offsets, careful, added)
            cur.commit()
        except BaseException:
            cur.rollback()
            raise
        self._tree = tree
        for hashes in added:
            self._keys.add(hashes)
        return result

    def _write(
        self,
        cur: duckdb.DuckDBPyConnection,
        tree: merkle.CompactRange,
        incoming: list[Incoming],
        rejected: list[Rejected],
        offsets: dict[tuple[str, int], int],
        careful: bool,
        added: list[np.ndarray],
    ) -> BatchResult:
        """The batch's rows; the key hashes of accepted events go to ``added`` (for the key
        index, once committed)."""
        result = BatchResult()
        now = datetime.now(UTC)
        assert self._keys is not None
        known, key_hash = _known_hashes(cur, self._keys, incoming)
        fresh: list[int] = []
        accepted: list[Accepted] = []
        leaves: list[bytes] = []
        nodes: list[merkle.Node] = []
        dead = list(rejected)
        # Careful: each event's own work (hash, leaf, its events row) is checked on its own.
        events_shape = _table_shape(cur, "events") if careful else None
        for at, item in enumerate(incoming):
            decoded = item.decoded
            event = decoded.event
            try:
                key = (event.source, event.id)
                content_hash = decoded.content_hash
                leaf = merkle.leaf_hash(decoded.canonical)
                if events_shape is not None:
                    row = _event_columns([item], [Accepted(tree.size, decoded)], [leaf])
                    events_shape.check([{name: column[0] for name, column in row.items()}])
            except Exception as exc:
                if events_shape is None:
                    raise
                log.exception("event at offset %s could not be written", item.record.offset)
                dead.append(_internal_error(item, exc))
                continue
            previous = known.get(key)
            if previous is not None:
                if previous == content_hash:
                    result.duplicates += 1
                else:
                    dead.append(_conflict(item))
                continue
            known[key] = content_hash
            fresh.append(at)
            leaves.append(leaf)
            accepted.append(Accepted(tree.size, decoded))
            nodes.extend(tree.append(leaf))
        if accepted:
            events = _event_columns([incoming[at] for at in fresh], accepted, leaves)
            # data and extension attributes are cut from the canonical JSON inside DuckDB:
            # one vectorised pass instead of two json.dumps per event.
            _insert(cur, "events", events, EVENT_JSON_COLUMNS, now)
            _insert_nodes(cur, nodes)
            cur.execute("INSERT INTO tree_heads VALUES (?, ?, ?)", [tree.size, tree.root(), now])
        if careful:
            rows, unprojectable = _project_careful(cur, accepted, incoming)
            projected = {table: _columns(table_rows) for table, table_rows in rows.items()}
            dead.extend(unprojectable)
        else:
            projected = project_columns(accepted)
        for table, columns in projected.items():
            _insert(cur, table, columns)
            result.tables[table] = len(next(iter(columns.values())))
        if accepted:
            commit_facts.catch_up(cur, accepted[0].seq)
        if dead:
            _insert(cur, "dead_letters", _columns([_dead_row(item) for item in dead]), "", now)
        for (topic, partition), next_offset in offsets.items():
            # Forward only: a stale batch must never move a stored offset back.
            cur.execute(
                "INSERT INTO kafka_offsets VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                "next_offset = greatest(kafka_offsets.next_offset, excluded.next_offset), "
                "updated_at = excluded.updated_at",
                [topic, partition, next_offset, now],
            )
        result.accepted = len(accepted)
        result.dead_letters = len(dead)
        added.append(key_hash[fresh])
        return result


def _ledger_error(path: str, exc: BaseException) -> LedgerError:
    hint = ""
    if "No space left" in str(exc) or "disk is full" in str(exc).lower():
        hint = " The disk is full: free space, then restart; ingestion resumes from the last batch."
    return LedgerError(
        f"could not write a batch to {path}: {exc}. Nothing of this batch was committed "
        f"(offsets included), so no event is lost.{hint}"
    )


def load_tree(cur: duckdb.DuckDBPyConnection) -> merkle.CompactRange:
    """The frontier of the committed tree, from the latest head and the stored nodes."""
    head = cur.execute("SELECT max(tree_size) FROM tree_heads").fetchone()[0] or 0
    hashes = [stored_node(cur, level, index) for level, index in merkle.frontier_positions(head)]
    return merkle.CompactRange(head, hashes)


def stored_node(cur: duckdb.DuckDBPyConnection, level: int, index: int) -> bytes:
    """A perfect subtree's hash: leaves from ``events.leaf_hash``, the rest from merkle_nodes."""
    if level == 0:
        row = cur.execute("SELECT leaf_hash FROM events WHERE seq = ?", [index]).fetchone()
    else:
        row = cur.execute(
            "SELECT hash FROM merkle_nodes WHERE level = ? AND idx = ?", [level, index]
        ).fetchone()
    if row is None:
        raise LedgerError(f"Merkle node (level {level}, index {index}) is missing from the ledger")
    return bytes(row[0])


def _event_columns(items: list[Incoming], accepted: list[Accepted], leaves: list[bytes]) -> Columns:
    """The ``events`` columns of the accepted records (``ingested_at`` is added in SQL)."""
    events = [item.decoded.event for item in accepted]
    records = [item.record for item in items]
    return {
        "seq": [item.seq for item in accepted],
        "source": [event.source for event in events],
        "id": [event.id for event in events],
        "type": [event.type for event in events],
        "time": [event.time for event in events],
        "subject": [event.subject for event in events],
        "content_hash": [item.decoded.content_hash for item in accepted],
        "canonical": [item.decoded.canonical.decode() for item in accepted],
        "leaf_hash": leaves,
        "topic": [record.topic for record in records],
        "kafka_partition": [record.partition for record in records],
        "kafka_offset": [record.offset for record in records],
    }


def _internal_error(item: Incoming, exc: Exception) -> Rejected:
    event = item.decoded.event
    detail = f"{type(exc).__name__}: {exc}"[:MAX_DETAIL_CHARS]
    return Rejected(item.record, "internal_error", detail, event.source, event.id, event.type)


def _conflict(item: Incoming) -> Rejected:
    event = item.decoded.event
    return Rejected(
        item.record,
        "conflicting_duplicate",
        f"({event.source}, {event.id}) was already accepted with other content",
        event.source,
        event.id,
        event.type,
    )


def _project_careful(
    cur: duckdb.DuckDBPyConnection, accepted: list[Accepted], incoming: list[Incoming]
) -> tuple[Rows, list[Rejected]]:
    """The projection, event by event, against the tables' real columns: an event whose rows
    break a type or NOT NULL stays in ``events`` (and the Merkle log) and its projection
    goes to the dead letters with the reason."""
    rows, failures = project_checked(accepted, _table_schemas(cur))
    records = {id(item.decoded): item.record for item in incoming}
    refused = []
    for item, reason in failures:
        event = item.decoded.event
        detail = f"seq {item.seq} is stored but could not be projected: {reason}"
        record = records.get(id(item.decoded))
        refused.append(
            Rejected(record, "projection_failed", detail, event.source, event.id, event.type)
        )
    return rows, refused


def _table_schemas(cur: duckdb.DuckDBPyConnection) -> dict[str, TableShape]:
    tables = cur.execute("SELECT table_name FROM duckdb_tables()").fetchall()
    return {table: _table_shape(cur, table) for (table,) in tables}


def _table_shape(cur: duckdb.DuckDBPyConnection, table: str) -> TableShape:
    schema = cur.sql(f'SELECT * FROM "{table}" LIMIT 0').to_arrow_table().schema
    not_null = cur.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND NOT is_nullable",
        [table],
    ).fetchall()
    return TableShape(schema, frozenset(name for (name,) in not_null))


def _known_hashes(
    cur: duckdb.DuckDBPyConnection, index: KeyIndex, incoming: list[Incoming]
) -> tuple[dict[tuple[str, str], str], np.ndarray]:
    """Content hashes of the batch's keys already stored, and each key's hash. Only keys the
    index may know are looked up in ``events``: a batch of new keys costs no scan."""
    if not incoming:
        return {}, np.zeros(0, dtype=np.uint64)
    keys = pa.table(
        {
            "source": [item.decoded.event.source for item in incoming],
            "id": [item.decoded.event.id for item in incoming],
        }
    )
    key_hash = key_hashes(cur, keys)
    maybe = index.maybe_known(key_hash)
    if not maybe.any():
        return {}, key_hash
    # No try/finally: after a failure the transaction (registration included) rolls back.
    cur.register("batch_keys", keys.filter(pa.array(maybe)))
    found = cur.execute(
        "SELECT e.source, e.id, e.content_hash FROM events e "
        "JOIN (SELECT DISTINCT source, id FROM batch_keys) k USING (source, id)"
    ).fetchall()
    cur.unregister("batch_keys")
    return {(source, id_): content_hash for source, id_, content_hash in found}, key_hash


def _columns(rows: list[Row]) -> Columns:
    """Row dicts of one shape as columns."""
    return {name: [row.get(name) for row in rows] for name in rows[0]}


def _insert(
    cur: duckdb.DuckDBPyConnection,
    table: str,
    columns: Columns,
    extra: str = "",
    now: datetime | None = None,
) -> None:
    """One INSERT of a batch's columns; with ``now``, that time is the table's own time
    column (``ingested_at``/``received_at``), set in SQL rather than repeated per row."""
    cur.register("batch_rows", pa.table(columns))
    if now is None:
        cur.execute(f"INSERT INTO {table} BY NAME SELECT *{extra} FROM batch_rows")
    else:
        column = STAMPED[table]
        cur.execute(
            f"INSERT INTO {table} BY NAME SELECT *{extra}, $now AS {column} FROM batch_rows",
            {"now": now},
        )
    cur.unregister("batch_rows")


def _storable(text: str | None) -> str | None:
    """Text a VARCHAR takes: what a bad record says about itself may hold lone surrogates."""
    if text is None or text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _insert_nodes(cur: duckdb.DuckDBPyConnection, nodes: list[merkle.Node]) -> None:
    if nodes:
        levels, indexes, hashes = zip(*nodes, strict=True)
        _insert(
            cur, "merkle_nodes", {"level": list(levels), "idx": list(indexes), "hash": list(hashes)}
        )


def _dead_row(item: Rejected) -> Row:
    raw = item.record.value if item.record is not None and item.record.value else b""
    return {
        "reason": item.reason,
        "detail": _storable(item.detail),
        "source": _storable(item.source),
        "id": _storable(item.id),
        "type": _storable(item.type),
        "raw_prefix": raw[:RAW_PREFIX_BYTES],
        "raw_size": len(raw),
        "raw_sha256": hashlib.sha256(raw).hexdigest(),
        "topic": item.record.topic if item.record else None,
        "kafka_partition": item.record.partition if item.record else None,
        "kafka_offset": item.record.offset if item.record else None,
    }
