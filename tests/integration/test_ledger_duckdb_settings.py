"""DuckDB settings of a ledger file.

A ledger makes its files with smaller blocks than DuckDB's (BLOCK_SIZE in ledger/store.py);
a file made with DuckDB's own keeps them and works as before.

The writer checkpoints less often than DuckDB's default (CHECKPOINT_THRESHOLD in
ledger/store.py), so more committed rows wait in the WAL; a writer that dies before a
checkpoint leaves them there, and reopening the ledger replays them. A memory limit, when
given, is DuckDB's; anything but a size is refused before the file is touched."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from provenance_ledger.ledger.store import BLOCK_SIZE, CHECKPOINT_THRESHOLD, Ledger
from tests.support import eventmix
from tests.support.provstory import write_direct


def _block_size(ledger: Ledger) -> int:
    return ledger.cursor().execute("SELECT block_size FROM pragma_database_size()").fetchone()[0]


def _duckdbs_block_size() -> int:
    with duckdb.connect() as plain:
        return int(plain.execute("SELECT current_setting('default_block_size')").fetchone()[0])


def test_a_new_ledger_file_has_the_ledgers_block_size_not_duckdbs(tmp_path):
    path = tmp_path / "ledger.duckdb"
    Ledger.open(path, migrate=True).close()
    for read_only in (False, True):
        ledger = Ledger.open(path, read_only=read_only)
        try:
            assert _block_size(ledger) == BLOCK_SIZE != _duckdbs_block_size()
        finally:
            ledger.close()


def test_a_file_made_with_duckdbs_block_size_keeps_it_and_takes_writes(tmp_path):
    path = tmp_path / "ledger.duckdb"
    duckdb.connect(str(path)).close()
    events = list(eventmix.events(3000, seed=7))
    ledger = Ledger.open(path, migrate=True)
    try:
        ledger.cursor().execute("SET checkpoint_threshold = '1MB'")  # checkpoints, too
        write_direct(ledger, events[:1500])
        write_direct(ledger, events[1500:])
    finally:
        ledger.close()
    reopened = Ledger.open(path, read_only=True)
    try:
        assert _block_size(reopened) == _duckdbs_block_size() != BLOCK_SIZE
        assert reopened.counts() == (3000, 0)
    finally:
        reopened.close()


def test_the_writer_checkpoints_at_the_ledgers_threshold_not_duckdbs(tmp_path):
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        threshold = ledger.cursor().execute("SELECT current_setting('checkpoint_threshold')")
        ours = threshold.fetchone()[0]
    finally:
        ledger.close()
    plain = duckdb.connect()
    default = plain.execute("SELECT current_setting('checkpoint_threshold')").fetchone()[0]
    plain.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
    assert ours == plain.execute("SELECT current_setting('checkpoint_threshold')").fetchone()[0]
    assert ours != default


def test_the_writers_commits_checkpoint_the_wal(tmp_path):
    # A result left open on the ledger's connection (a fetchone) keeps a transaction open, and
    # DuckDB checkpoints no more: the WAL, and the rows DuckDB holds for it, grew without end.
    path = tmp_path / "ledger.duckdb"
    ledger = Ledger.open(path, migrate=True)
    try:
        ledger.cursor().execute("SET checkpoint_threshold = '1MB'")
        for seed in range(3):  # ~2.5 MB of WAL a batch
            write_direct(ledger, list(eventmix.events(3000, seed=seed)))
        wal = path.with_name("ledger.duckdb.wal")
        assert not wal.exists() or wal.stat().st_size < 1_000_000
    finally:
        ledger.close()


def test_the_writers_commits_checkpoint_while_a_reader_holds_a_transaction_open(tmp_path):
    # DuckDB skips its automatic checkpoint at a commit that updates rows while another
    # transaction is open. With the offsets updated in every batch, a ledger read without pause
    # (a dashboard, a responder's calls) never checkpointed: the WAL, and the rows DuckDB holds
    # until a checkpoint, grew without end (296 MB of WAL, no checkpoint, on a 10M-event ledger
    # under bench_memory.py's reads). Offsets are appended now, and the commits checkpoint.
    path = tmp_path / "ledger.duckdb"
    ledger = Ledger.open(path, migrate=True)
    reader = ledger.cursor()
    try:
        ledger.cursor().execute("SET checkpoint_threshold = '1MB'")
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM events").fetchall()
        wal = path.with_name("ledger.duckdb.wal")
        sizes = []
        for seed in range(4):  # ~2.5 MB of WAL a batch
            write_direct(ledger, list(eventmix.events(3000, seed=seed)))
            sizes.append(wal.stat().st_size if wal.exists() else 0)
        assert max(sizes) < 4_000_000, f"WAL after each batch: {sizes}"
        assert ledger.committed_offsets("direct") == {0: 12_000}
    finally:
        reader.execute("COMMIT")
        ledger.close()


def test_rows_left_in_the_wal_by_a_killed_writer_are_there_on_reopening(tmp_path):
    path = tmp_path / "ledger.duckdb"
    # A child process writes 2,000 events (well under the threshold) and dies without
    # closing the ledger, so nothing is checkpointed.
    script = textwrap.dedent(
        f"""
        import os
        from provenance_ledger.ledger.store import CHECKPOINT_THRESHOLD, Ledger
        from tests.support import eventmix
        from tests.support.provstory import write_direct
        ledger = Ledger.open({str(path)!r}, migrate=True)
        write_direct(ledger, list(eventmix.events(2000)))
        os._exit(0)
        """
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", script], cwd=root, check=True, timeout=120)
    assert path.with_name("ledger.duckdb.wal").stat().st_size > 0
    ledger = Ledger.open(path, migrate=True)
    try:
        assert ledger.counts() == (2000, 0)
        assert ledger.head()[0] == 2000
        expected = sorted(decoded.event.id for decoded in eventmix.events(2000))
        stored = ledger.cursor().execute("SELECT id FROM events ORDER BY id").fetchall()
        assert [row[0] for row in stored] == expected
    finally:
        ledger.close()


def test_a_ledger_runs_under_the_memory_limit_it_is_given(tmp_path):
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True, memory_limit="300MB")
    try:
        limit = ledger.cursor().execute("SELECT current_setting('memory_limit')").fetchone()[0]
    finally:
        ledger.close()
    plain = duckdb.connect()
    plain.execute("SET memory_limit = '300MB'")
    assert limit == plain.execute("SELECT current_setting('memory_limit')").fetchone()[0]


def test_a_memory_limit_that_is_not_a_size_is_refused_before_opening(tmp_path):
    path = tmp_path / "ledger.duckdb"
    with pytest.raises(ValueError, match="not a memory size: \"1GB'; DROP TABLE events"):
        Ledger.open(path, migrate=True, memory_limit="1GB'; DROP TABLE events; --")
    assert not path.exists()
