"""Whether DuckDB's memory limit (PROVLEDGER_DUCKDB_MEMORY_LIMIT) leaves room for the ledger.

DuckDB keeps an ART index in memory once a write reaches it, counts it against memory_limit
and does not evict it. The ledger's writes spread over the keys (event ids, commit hashes),
so within a few batches nearly every index is loaded; a batch also needs room for the rows it
appends. Under a smaller limit every batch fails with DuckDB's Out of Memory Error, after
every restart too: ingest stops for good (docs/benchmarks.md, section "Memory"). So a writer
refuses such a limit when it opens the ledger, and a batch that runs out of memory says which
limit to raise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from provenance_ledger.ledger import units
from provenance_ledger.schemas.errors import UsageProblem

VARIABLE = "PROVLEDGER_DUCKDB_MEMORY_LIMIT"
# Measured on ledgers of the event mix of tests/support/eventmix.py (18 indexes), every index
# loaded (duckdb_memory()'s ART_INDEX): 30 MB for 355k entries, 219 MB for 5.0M; that is
# ~0.8 MB per index (its allocators' first buffers) and ~41 B per entry.
INDEX_BYTES = 750_000
INDEX_BYTES_PER_ENTRY = 40
# Room to write a batch of serve's size (5,000 events) beside the indexes: DuckDB allocates up
# to 16 MiB at a time while appending and keeps blocks of the rows not yet checkpointed. With
# these figures the need falls between the largest limit that failed and the smallest that
# kept ingesting 25,000 more events: 80 MB < 87 MB <= 96 MB at 50k events, 256 MB < 272 MB <=
# 288 MB at 1M (docs/benchmarks.md, section "Memory"). A floor for ingest alone: the API's
# queries run under the same limit (at 3M events, 800MB, 1.2 times the need, ran out of
# memory under bench/bench_memory.py's reads), so a limit at the need is not a safe one.
WORKING_BYTES = 64 * 1000**2


class MemoryLimitTooLow(UsageProblem):
    """PROVLEDGER_DUCKDB_MEMORY_LIMIT is below what the ledger needs to keep ingesting."""


@dataclass(frozen=True)
class Need:
    indexes: int
    index_entries: int

    @property
    def bytes(self) -> int:
        indexes = self.indexes * INDEX_BYTES + self.index_entries * INDEX_BYTES_PER_ENTRY
        return indexes + WORKING_BYTES


def need_of(cur: duckdb.DuckDBPyConnection) -> Need:
    """What the ledger needs, from the catalog alone (no index is loaded to find out): every
    index and key constraint holds one entry per row of its table."""
    rows = cur.execute(
        "SELECT coalesce(sum(index_count), 0)::BIGINT, "
        "coalesce(sum(estimated_size * index_count), 0)::BIGINT FROM duckdb_tables() "
        "WHERE database_name = current_database()"
    ).fetchall()
    return Need(*rows[0])


def _mb(size: int) -> str:
    return f"{-(-size // 1000**2)}MB"


def refuse_below_need(cur: duckdb.DuckDBPyConnection, path: str, limit: str) -> None:
    """Raise MemoryLimitTooLow if ``limit`` (a size such as ``512MB``) is below the need."""
    need, given = need_of(cur), units.parse_size(limit, unitless=False)
    if given < need.bytes:
        shown = f"{given // 1000**2}MB" if given % 1000**2 == 0 else f"{given}B"
        raise MemoryLimitTooLow(
            f"{VARIABLE}={shown} is below what {path} needs to keep ingesting: about "
            f"{_mb(need.bytes)} ({need.indexes} indexes of {need.index_entries:,} entries in "
            f"all, which DuckDB keeps in memory once written to, and {_mb(WORKING_BYTES)} to "
            f"write a batch). Set {VARIABLE} "
            "to at least that, more for the API's queries, or unset it (DuckDB then takes 80% "
            "of RAM)."
        )


def refuse_below_need_of_file(path: Path, limit: str) -> None:
    """refuse_below_need for the ledger file at ``path``, opened read-only for the look."""
    conn = duckdb.connect(str(path), read_only=True)
    try:
        refuse_below_need(conn, str(path), limit)
    finally:
        conn.close()


def out_of_memory_hint(cur: duckdb.DuckDBPyConnection, exc: BaseException) -> str:
    """What to do about a batch that failed for DuckDB's memory limit; "" for other errors."""
    if not isinstance(exc, duckdb.OutOfMemoryException):
        return ""
    try:
        limit = cur.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        need = f"about {_mb(need_of(cur).bytes)}"
    except duckdb.Error:  # a database DuckDB invalidated answers nothing more
        limit, need = "its memory limit", "their size"
    finally:
        cur.close()
    return (
        f" DuckDB ran out of memory under {limit}, too little for this ledger, whose indexes "
        f"must fit in it ({need} in all): raise {VARIABLE} or unset it, then restart; "
        "ingestion resumes from this batch."
    )
