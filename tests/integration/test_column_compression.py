"""The compression ledger/schema.sql names for a column is the one its checkpointed segments
get (a checkpoint with DuckDB's own choice cost ~20 µs per event: bench/bench_checkpoint.py),
and a ledger so stored reads back whole: it verifies, Avro values included."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from provenance_ledger.ledger import verify
from provenance_ledger.ledger.batch import decode_batch, next_offsets
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.schemas.codec import KafkaRecord
from tests.support import eventmix

TOPIC = "compression"
TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*?)\n\);", re.S)
CLAUSE = re.compile(r"^\s+(\w+) \w+.* USING COMPRESSION (\w+)", re.M)


def _named_compressions() -> dict[tuple[str, str], str]:
    schema = resources.files("provenance_ledger.ledger").joinpath("schema.sql").read_text()
    return {
        (table, column): method.lower()
        for table, body in TABLE.findall(schema)
        for column, method in CLAUSE.findall(body)
    }


def test_the_schema_names_compressions() -> None:
    named = _named_compressions()
    assert named[("events", "canonical")] == "zstd"
    # No responder's call reads it by the row since incidents.region.
    assert named[("events", "data")] == "zstd"
    assert named[("log_nodes", "hash")] == "uncompressed"


@pytest.mark.parametrize("fmt", ["json", "avro"])
def test_each_named_compression_is_the_stored_one(fmt: str, tmp_path: Path) -> None:
    # More events than a row group (122,880 rows) holds would only slow this down: the
    # choice is made per segment, and a batch's segments are as any other's.
    messages = list(eventmix.messages(6_000, fmt=fmt, seed=31))
    records = [
        KafkaRecord(TOPIC, at % 3, at // 3, key, value, tuple(headers))
        for at, (key, headers, value) in enumerate(messages)
    ]
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        for at in range(0, len(records), 2_000):
            batch = records[at : at + 2_000]
            ledger.write_batch(*decode_batch(batch, 1024 * 1024), next_offsets(batch))
        cur = ledger.cursor()
        cur.execute("CHECKPOINT")
        named = _named_compressions()
        stored = {
            (table, column): {method.lower() for (method,) in rows}
            for (table, column) in named
            if (
                rows := cur.execute(
                    "SELECT DISTINCT compression FROM pragma_storage_info(?) "
                    "WHERE column_name = ? AND segment_type NOT IN ('VALIDITY')",
                    [table, column],
                ).fetchall()
            )
        }
        # Avro values are kept (log_records.value); JSON ones are the canonical bytes.
        expected = {key for key in named if fmt == "avro" or key != ("log_records", "value")}
        assert len(expected) >= 5
        assert expected <= stored.keys()
        assert {key: stored[key] for key in expected} == {key: {named[key]} for key in expected}
        report = verify.verify(cur, TOPIC)
        assert report.problem is None and report.events == len(records)
    finally:
        ledger.close()
