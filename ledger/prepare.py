"""A batch's per-event work done in a worker process, handed to the writer as Arrow tables.

``serve`` runs Python in one process, so the GIL holds its consumer (fetch, decode) and its
writer to about one core between them (docs/benchmarks.md, section "Peers"). Handing decoded
events to another process as Python objects costs as much as decoding them (section "Issue
#18: decoding in worker processes"). What crosses here is columns instead: the worker decodes
the batch's records, hashes them into log leaves and projects every decoded event, and
returns Arrow tables, which cross as a few buffers whatever the number of rows. The writer
then does only what needs the ledger's state, in whole columns (ledger/prepared_writer.py):
which events are new, their seqs, the Merkle log's tree, the INSERTs.

Nothing here knows a seq: a decoded event is named by its place among the batch's decoded
events (``events`` row), and the projection's seq columns hold that place until the writer
maps it to the seq the event gets (or drops the rows of an event that is not new).
"""

from __future__ import annotations

import marshal
import queue
import signal
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import pyarrow as pa

from provenance_ledger.ledger import merkle, recordlog
from provenance_ledger.ledger.batch import decode_batch, relax_gc
from provenance_ledger.ledger.dead_rows import dead_letter_columns
from provenance_ledger.ledger.event_rows import event_columns, typed_table
from provenance_ledger.ledger.origin import OriginKey
from provenance_ledger.ledger.projection import Accepted, project_columns
from provenance_ledger.schemas import cdevents
from provenance_ledger.schemas.codec import KafkaRecord

# The projection columns that hold an event's seq (its place in the batch here).
SEQ_COLUMNS = ("event_seq", "deployment_seq")
LOG_SCHEMA = pa.schema(
    [
        ("kafka_partition", pa.int32()),
        ("kafka_offset", pa.int64()),
        ("entry", pa.binary()),
        ("leaf_hash", pa.binary()),
        # The record's place among the batch's decoded events; null for a dead letter.
        ("event", pa.int32()),
        # The value, for the log row of an accepted event whose value is not its canonical
        # bytes (the log keeps such values); null otherwise.
        ("value", pa.binary()),
    ]
)
# A record as it crosses to the worker: plain tuples, which marshal can write.
RecordTuple = tuple[str, int, int, bytes | None, bytes | None, tuple[tuple[str, bytes], ...]]


@dataclass(frozen=True)
class Prepared:
    """One batch, prepared: ``events`` (one row per decoded record, in batch order, with the
    record's place in the batch as ``at``), ``log`` (every record, in (partition, offset)
    order), ``projection`` (rows per table, seq columns holding the event's row in
    ``events``) and ``dead`` (the rows of the records that did not decode)."""

    events: pa.Table
    log: pa.Table
    projection: dict[str, pa.Table]
    dead: pa.Table | None


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker needs to know once: the ledger's column types and how to decode."""

    types: dict[str, dict[str, pa.DataType]]
    max_event_bytes: int
    origins: OriginKey | None
    # Decoding reads it process-wide (schemas/cdevents.py); a spawned worker starts without.
    cdevents_schemas: Path | None


def use_system_allocator() -> None:
    """Allocate Arrow's buffers from the C library's heap, for the rest of the process.

    pyarrow's default pool, mimalloc, keeps the pages of freed buffers for later ones. A batch
    is megabytes of them, built here from Python lists (grown as they fill) and read back by
    the ledger, so both processes kept tens of megabytes that no batch used: on a 1M-event
    ledger through a checkpoint, peak RSS 66-106 MB lower with the C library's allocator, and
    ingest no slower (docs/benchmarks.md, "Arrow's allocator").
    """
    pa.set_memory_pool(pa.system_memory_pool())


def serve_requests(setup: WorkerSetup, requests: Connection, results: Connection) -> None:
    """The worker process: prepare each batch ``requests`` brings, send back what became of
    it, until the ledger closes its end (or dies, which closes it too)."""
    # Ctrl-C reaches the whole process group; the ledger stops the worker after its batch.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    relax_gc()
    use_system_allocator()
    cdevents.use_schemas(setup.cdevents_schemas)
    batches: queue.SimpleQueue[list[RecordTuple] | None] = queue.SimpleQueue()
    answers: queue.SimpleQueue[Prepared | str] = queue.SimpleQueue()
    threading.Thread(target=_take_requests, args=(requests, batches), daemon=True).start()
    threading.Thread(target=_give_answers, args=(answers, results), daemon=True).start()
    while (records := batches.get()) is not None:
        try:
            answer: Prepared | str = prepare([KafkaRecord._make(r) for r in records], setup)
        except Exception as exc:  # the ledger decodes and writes this batch itself
            answer = f"{type(exc).__name__}: {exc}"
        answers.put(answer)


def _take_requests(
    requests: Connection, batches: queue.SimpleQueue[list[RecordTuple] | None]
) -> None:
    """Read batches as they come, whatever the worker is doing: a ledger sending the next
    batch must not wait for the worker to finish sending its last answer, which may wait for
    that same ledger thread to read it (pipes hold 64 KiB, a batch megabytes). However the
    requests end, the worker ends: a ledger that died mid-batch cuts a message short, which
    ``recv_bytes`` reports as OSError, not EOFError (caught alone, it left the worker waiting
    forever, one orphan per killed serve)."""
    try:
        while True:
            batches.put(records_of(requests.recv_bytes()))
    except (EOFError, OSError, ValueError, TypeError):  # TypeError, ValueError: not a batch
        return
    finally:
        batches.put(None)


def _give_answers(answers: queue.SimpleQueue[Prepared | str], results: Connection) -> None:
    """Send answers as they are ready, while the next batch is prepared: the ledger reads an
    answer only when its writer is done with the batch before, and until then a send of
    megabytes into a 64 KiB pipe blocks (a tenth of the worker's time, on one thread).
    Answers cannot pile up: the ledger sends a batch only after the one two before it is
    written."""
    while True:
        try:
            results.send(answers.get())
        except (OSError, ValueError):  # the ledger is gone: the requests' EOF ends the worker
            return


def request_bytes(records: list[KafkaRecord]) -> bytes:
    """A batch as it crosses to the worker. marshal, not pickle: both processes run the same
    Python, and marshal writes these tuples in about half the time, on the consumer's thread
    (``make bench-handover``: an Avro record with six headers 1.4-1.5 against 2.7-2.8 µs, a
    JSON one 0.8-1.0 against 1.5). Raises ValueError for a value it cannot write."""
    return marshal.dumps(
        [(r.topic, r.partition, r.offset, r.key, r.value, r.headers) for r in records]
    )


def records_of(request: bytes) -> list[RecordTuple]:
    """The batch :func:`request_bytes` wrote; raises ValueError, EOFError or TypeError for
    bytes it did not write. Only the ledger's own process writes to this pipe, and what
    records hold (values, headers) is data inside marshal's framing, never the framing."""
    records = marshal.loads(request)
    if type(records) is not list:
        raise TypeError("a batch is a list of records")
    return records


def prepare(records: list[KafkaRecord], setup: WorkerSetup) -> Prepared:
    """Decode, hash and project ``records``; raises if any step fails, and the ledger then
    decodes and writes the batch itself (ledger/preparer.py)."""
    incoming, rejected = decode_batch(records, setup.max_event_bytes, setup.origins)
    # Each decoded event is "accepted" at its place in the batch; the writer renumbers.
    accepted = [Accepted(place, item.decoded) for place, item in enumerate(incoming)]
    place_of = {id(item.record): place for place, item in enumerate(incoming)}
    # A value that is its event's canonical bytes has its digest already: the content hash.
    digests = {
        id(item.record): bytes.fromhex(item.decoded.content_hash)
        for item in incoming
        if item.record.value == item.decoded.canonical
    }
    placed = sorted(records, key=_log_position)
    entries = [recordlog.record_entry(r, digests.get(id(r))) for r in placed]
    leaves = [merkle.leaf_hash(entry) for entry in entries]
    log = pa.table(
        [
            [r.partition for r in placed],
            [r.offset for r in placed],
            entries,
            leaves,
            [place_of.get(id(r)) for r in placed],
            [None if id(r) in digests or id(r) not in place_of else r.value for r in placed],
        ],
        schema=LOG_SCHEMA,
    )
    leaf_of_place = {
        place_of[id(r)]: leaf for r, leaf in zip(placed, leaves, strict=True) if id(r) in place_of
    }
    event_rows = event_columns(incoming, accepted, leaf_of_place)
    # The record's place in the batch instead: a conflicting repeat's dead letter names it.
    at_of = {id(record): at for at, record in enumerate(records)}
    del event_rows["seq"]
    event_rows["at"] = [at_of[id(item.record)] for item in incoming]
    types = setup.types
    projected = project_columns(accepted)
    dead = dead_letter_columns(rejected) if rejected else None
    return Prepared(
        events=typed_table(event_rows, {"at": pa.int32(), **types["events"]}),
        log=log,
        projection={table: typed_table(rows, types[table]) for table, rows in projected.items()},
        dead=typed_table(dead, types["dead_letters"]) if dead is not None else None,
    )


def _log_position(record: KafkaRecord) -> tuple[int, int]:
    return record.partition, record.offset
