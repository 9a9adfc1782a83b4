"""A DuckDB memory limit too small for the ledger is refused when a writer opens it, and a batch
that runs out of memory anyway says which limit to raise (real DuckDB files, no Kafka)."""

from __future__ import annotations

from pathlib import Path

import pytest

from provenance_ledger.ledger import memorylimit
from provenance_ledger.ledger.batch import decode_batch
from provenance_ledger.ledger.rebuild import rebuild
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger, LedgerError
from provenance_ledger.schemas.codec import KafkaRecord
from tests.support import eventmix

BATCH = 5_000  # serve's PROVLEDGER_BATCH_MAX default


def _write(ledger: Ledger, count: int, seed: int) -> None:
    """``count`` events of the mix in serve-sized batches, as records of a 3-partition topic."""
    records = [
        KafkaRecord(f"mix-{seed}", at % 3, at // 3, key, value, tuple(headers))
        for at, (key, headers, value) in enumerate(eventmix.messages(count, "json", seed))
    ]
    for start in range(0, count, BATCH):
        batch = records[start : start + BATCH]
        incoming, rejected = decode_batch(batch, 1024 * 1024)
        ledger.write_batch(
            incoming, rejected, {(r.topic, r.partition): r.offset + 1 for r in batch}
        )


@pytest.fixture(scope="module")
def ledger_file(tmp_path_factory) -> tuple[Path, int]:
    """A ledger of 5,000 events, closed, and the bytes it needs (memorylimit.need_of)."""
    path = tmp_path_factory.mktemp("memory") / "ledger.duckdb"
    ledger = Ledger.open(path, migrate=True)
    try:
        _write(ledger, BATCH, seed=1)
        need = memorylimit.need_of(ledger.cursor()).bytes
    finally:
        ledger.close()
    return path, need


def _copy(source: Path, folder: Path) -> Path:
    copy = folder / "copy.duckdb"
    copy.write_bytes(source.read_bytes())
    return copy


def test_the_need_counts_every_index_entry(ledger_file):
    path, need = ledger_file
    ledger = Ledger.open(path)
    try:
        found = memorylimit.need_of(ledger.cursor())
        per_table = (
            ledger.cursor()
            .execute(
                "SELECT estimated_size, index_count FROM duckdb_tables() WHERE index_count > 0"
            )
            .fetchall()
        )
    finally:
        ledger.close()
    assert found.indexes == sum(indexes for _, indexes in per_table) >= 2
    assert found.index_entries == sum(rows * indexes for rows, indexes in per_table)
    assert found.index_entries > 2 * BATCH  # events alone hold two per event
    assert found.bytes == need > memorylimit.WORKING_BYTES


def test_a_writer_refuses_a_limit_below_the_ledgers_need(ledger_file, tmp_path):
    path, need = ledger_file
    below = f"{need // 1000**2 - 1}MB"
    with pytest.raises(memorylimit.MemoryLimitTooLow) as refused:
        Ledger.open(_copy(path, tmp_path), migrate=True, memory_limit=below)
    message = str(refused.value)
    assert f"PROVLEDGER_DUCKDB_MEMORY_LIMIT={below} is below" in message
    assert f"about {-(-need // 1000**2)}MB" in message
    assert "unset it" in message and "\n" not in message
    assert refused.value.exit_code == 2


def test_a_limit_a_quarter_above_the_need_keeps_ingesting(ledger_file, tmp_path):
    path, need = ledger_file
    ledger = Ledger.open(_copy(path, tmp_path), memory_limit=f"{need * 5 // 4}B")
    try:
        _write(ledger, 3 * BATCH, seed=2)
        assert ledger.counts() == (4 * BATCH, 0)
    finally:
        ledger.close()


def test_a_limit_below_the_need_fails_ingest_and_the_error_says_which_to_raise(
    ledger_file, tmp_path
):
    path, need = ledger_file
    ledger = Ledger.open(_copy(path, tmp_path))
    try:
        # Under the limit the check refuses, as if it were not there: DuckDB's own failure.
        ledger.cursor().execute(f"SET memory_limit = '{need // 2}B'")
        with pytest.raises(LedgerError) as failed:
            _write(ledger, BATCH, seed=3)
    finally:
        ledger.close()
    message = str(failed.value)
    assert "Out of Memory Error" in message
    assert "raise PROVLEDGER_DUCKDB_MEMORY_LIMIT or unset it" in message
    assert "Possible solutions" not in message  # DuckDB's advice, replaced by the hint


def test_rebuild_refuses_a_limit_below_the_need_of_the_ledger_it_replaces(ledger_file, tmp_path):
    path, need = ledger_file
    copy = _copy(path, tmp_path)
    settings = Settings(db_path=copy, duckdb_memory_limit=f"{need - 1}B")
    with pytest.raises(memorylimit.MemoryLimitTooLow):
        rebuild(settings)
    assert not copy.with_name(copy.name + ".rebuild").exists()
