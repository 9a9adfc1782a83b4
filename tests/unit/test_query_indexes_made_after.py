"""A new ledger file is filled without its query indexes, made once at the end
(ledger/migrate.py ``query_indexes_made_after``): the same indexes as migrating makes."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from provenance_ledger.ledger.migrate import query_indexes_made_after
from provenance_ledger.ledger.store import Ledger

MADE = "SELECT index_name, table_name, sql FROM duckdb_indexes() ORDER BY index_name"


def _indexes(cur: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    return cur.execute(MADE).fetchall()


def test_the_indexes_are_gone_meanwhile_and_made_again_after(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        cur = ledger.cursor()
        migrated = _indexes(cur)
        assert migrated
        with query_indexes_made_after(cur):
            assert _indexes(cur) == []
            cur.execute(
                "INSERT INTO commit_facts (fact, repo, commit, event_seq) "
                "VALUES ('authored', 'r', 'c1', 0)"
            )
        assert _indexes(cur) == migrated
        found = "SELECT event_seq FROM commit_facts WHERE commit = 'c1'"
        assert cur.execute(found).fetchall() == [(0,)]
    finally:
        ledger.close()


def test_a_fill_that_fails_leaves_them_unmade(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        cur = ledger.cursor()
        with pytest.raises(RuntimeError), query_indexes_made_after(cur):
            raise RuntimeError("the replay failed")
        assert _indexes(cur) == []
    finally:
        ledger.close()
