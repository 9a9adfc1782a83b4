"""A batch prepared in a worker (ledger/prepare.py, ledger/prepared_writer.py) is written as
the very rows the same records get when decoded and written in one process (ledger/writer.py):
every table of two real DuckDB ledgers, fed the same batches one way each, is compared row
for row (but for the commit times), and both logs verify. The batches cover what the
column-wise sorting out has to get right: new events over three partitions in interleaved
order, repeats of stored events and of events earlier in the same batch, hostile records,
conflicting repeats, a batch of dead letters only, in both of the consumer's formats.
"""

from __future__ import annotations

import functools
import itertools
from pathlib import Path

import pytest

from provenance_ledger.ledger import verify
from provenance_ledger.ledger.batch import decode_batch, next_offsets
from provenance_ledger.ledger.prepare import Prepared, WorkerSetup, prepare
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.ledger.writer import table_types
from provenance_ledger.schemas.codec import KafkaRecord
from tests.support import eventmix, hostile_events

TOPIC = "t"
MAX_EVENT_BYTES = 1024 * 1024
# Set by each commit, not by the records.
COMMIT_TIMES = {"ingested_at", "received_at", "updated_at", "committed_at"}
# Random per ledger file.
OWN_TABLES = {"ledger_identity"}


def _batches(fmt: str) -> list[list[KafkaRecord]]:
    mix = [
        (value, tuple(headers), key) for key, headers, value in eventmix.messages(1_500, fmt, 41)
    ]
    hostile = [(item.value, tuple(item.headers), None) for item in hostile_events.records()]
    plain = list(eventmix.events(1_500, seed=41))
    changed = [(b'{"conflicting":"yes",' + event.canonical[1:], (), None) for event in plain]
    contents = [
        mix[:600],
        # New events, repeats of the first batch, and repeats within the batch itself.
        mix[600:1_000] + mix[:200] + mix[600:650],
        # Hostile records, conflicting repeats, and a conflict with an event of this batch.
        mix[1_000:1_100] + hostile + changed[:20] + changed[1_000:1_020],
        hostile[:5],
        mix[1_100:],
    ]
    # Offsets grow per partition in batch order, as Kafka's do; partitions interleave.
    offsets = {partition: itertools.count() for partition in range(3)}
    batches = []
    for batch in contents:
        records = []
        for at, (value, headers, key) in enumerate(batch):
            partition = at * 7 % 3
            offset = next(offsets[partition])
            records.append(KafkaRecord(TOPIC, partition, offset, key, value, headers))
        batches.append(records)
    return batches


def _rows(ledger: Ledger) -> dict[str, list[tuple]]:
    cur = ledger.cursor()
    tables = [t for (t,) in cur.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
    found = {}
    for table in sorted(set(tables) - OWN_TABLES):
        columns = [
            name
            for (name,) in cur.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ? "
                "ORDER BY column_index",
                [table],
            ).fetchall()
            if name not in COMMIT_TIMES
        ]
        listed = ", ".join(f'"{name}"' for name in columns)
        found[table] = cur.execute(f'SELECT {listed} FROM "{table}" ORDER BY ALL').fetchall()
    return found


def _setup(ledger: Ledger) -> WorkerSetup:
    return WorkerSetup(table_types(ledger.cursor()), MAX_EVENT_BYTES, None, None)


@pytest.mark.parametrize("fmt", ["json", "avro"])
def test_prepared_batches_are_written_as_decoded_ones_are(tmp_path: Path, fmt: str) -> None:
    decoded = Ledger.open(tmp_path / "decoded.duckdb", migrate=True)
    prepared = Ledger.open(tmp_path / "prepared.duckdb", migrate=True)
    try:
        setup = _setup(prepared)
        for records in _batches(fmt):
            offsets = next_offsets(records)
            one = decoded.write_batch(*decode_batch(records, MAX_EVENT_BYTES), offsets)
            decode = functools.partial(decode_batch, records, MAX_EVENT_BYTES)
            other = prepared.write_prepared(prepare(records, setup), records, offsets, decode)
            assert other == one
        rows = _rows(prepared)
        assert rows == _rows(decoded)
        # Every kind of row the batches make is there: the comparison is not of empty tables.
        outcomes = {outcome for *_, outcome, _, _ in rows["log_records"]}
        assert outcomes == {"accepted", "duplicate", "dead_letter"}
        reasons = {row[1] for row in rows["dead_letters"]}
        assert "conflicting_duplicate" in reasons and len(reasons) > 3
        assert len(rows["events"]) == 1_500 and rows["deployment_changes"]
        for ledger in (decoded, prepared):
            report = verify.verify(ledger.cursor(), TOPIC)
            assert report.problem is None and report.events == 1_500
    finally:
        decoded.close()
        prepared.close()


def test_a_batch_the_worker_prepared_wrongly_is_written_event_by_event(tmp_path: Path) -> None:
    """A prepared batch that fails to write (here: its projection names no table the ledger
    has) is decoded again in the writer's process and written the careful way: nothing lost,
    nothing written twice."""
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        records = _batches("json")[0]
        good = prepare(records, _setup(ledger))
        broken = Prepared(good.events, good.log, {"no_such_table": good.events}, good.dead)
        decode = functools.partial(decode_batch, records, MAX_EVENT_BYTES)
        result = ledger.write_prepared(broken, records, next_offsets(records), decode)
        assert result.accepted == 600 and ledger.counts() == (600, 0)
        assert verify.verify(ledger.cursor(), TOPIC).problem is None
    finally:
        ledger.close()
