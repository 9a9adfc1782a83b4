"""The read-only SQL guard: what DuckDB's parse lets through, and how values become JSON.

An in-memory DuckDB (no file, no network) stands in for the ledger's instance.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import duckdb
import pytest

from provenance_ledger.query.sql import readonly as sql
from provenance_ledger.query.sql import values as sql_values


@pytest.fixture
def cur():
    conn = duckdb.connect()
    conn.execute("CREATE TABLE t (a INTEGER, s VARCHAR); INSERT INTO t VALUES (1, 'x'), (2, 'y')")
    conn.execute("CREATE SEQUENCE seq")
    sql.lock_down(conn.cursor())
    yield conn.cursor()
    conn.close()


ACCEPTED = [
    "SELECT 1",
    "select * from t",
    "  /* leading comment */ SeLeCt a FROM t -- trailing comment",
    "WITH x AS (SELECT a FROM t) SELECT sum(a) FROM x",
    "FROM t",
    "DESCRIBE t",
    "SHOW TABLES",
    "SUMMARIZE t",
    "EXPLAIN SELECT * FROM t",
    "EXPLAIN ANALYZE SELECT * FROM t",
    "explain (format json) select 1",
    "SELECT 1; SELECT 2",
    "VALUES (1), (2)",
    "SELECT 'checkpoint()' AS text_not_a_call",
    "SELECT a.a + 1, upper(s), s LIKE 'x%', [1, 2][1], {'k': 1}.k, count(*) FROM t a GROUP BY ALL",
    "SELECT row_number() OVER (ORDER BY a), list_transform([a], x -> x * 2) FROM t",
    "SELECT * FROM range(3) r, unnest([1, 2]) u",
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_reads_pass_the_guard(cur, text):
    statements = sql.check(cur, text)
    assert statements


REFUSED = [
    ("INSERT INTO t VALUES (3, 'z')", "INSERT"),
    ("SELECT 1; DROP TABLE t", "DROP"),
    ("EXPLAIN ANALYZE INSERT INTO t VALUES (3, 'z')", "INSERT"),
    ("EXPLAIN DELETE FROM t", "DELETE"),
    ("COPY t TO '/tmp/out.csv'", "COPY"),
    ("ATTACH ':memory:' AS m", "ATTACH"),
    ("SET threads = 1", "SET"),
    ("PRAGMA version", "PRAGMA"),
    ("CALL pragma_version()", "CALL"),
    ("INSTALL httpfs", "LOAD"),
    ("UPDATE EXTENSIONS", "kind"),
    ("PIVOT t ON a", "MULTI"),
    ("SELECT * FROM main.checkpoint()", "checkpoint"),
    ('SELECT * FROM "CHECKPOINT"()', "checkpoint"),
    ("SELECT * FROM query('SELECT 1')", "query"),
    ("SELECT nextval('seq')", "nextval"),
    # Back-quotes, schema prefixes and method calls name the same functions in the parse tree.
    ("SELECT `query`('SELECT 1')", "query"),
    ("SELECT * FROM `checkpoint`()", "checkpoint"),
    ("SELECT * FROM system.main.query('SELECT 1')", "query"),
    ("SELECT destroy_external_resource('checkpoint', 1)", "destroy_external_resource"),
    ("SELECT * FROM read_csv('/etc/passwd')", "read_csv"),
    ("SELECT * FROM duckdb_secrets()", "duckdb_secrets"),
    ("SELECT 1 WHERE EXISTS (SELECT setseed(0.5))", "setseed"),
    ("SELECT list_transform([1], x -> nextval('seq'))", "nextval"),
    ("DESCRIBE SELECT * FROM glob('/*')", "glob"),
    ("EXPLAIN SELECT * FROM read_text('/etc/hostname')", "read_text"),
    ("", "no SQL"),
    ("-- only a comment", "no SQL"),
    ("SELEC 1", "does not parse"),
]


@pytest.mark.parametrize(("text", "named"), REFUSED)
def test_everything_else_is_refused_before_it_runs(cur, text, named):
    with pytest.raises(sql.SqlRefused, match=named):
        sql.check(cur, text)


def test_run_answers_columns_rows_and_truncation(cur):
    result = sql.run(cur, "SELECT a, s FROM t ORDER BY a", limits=sql.SqlLimits(max_rows=1))
    assert result.columns == ["a", "s"]
    assert result.rows == [[1, "x"]]
    assert result.truncated is True
    full = sql.run(cur, "SELECT a FROM t ORDER BY a")
    assert full.rows == [[1], [2]] and full.truncated is False


def test_run_binds_named_parameters_per_statement(cur):
    result = sql.run(cur, "SELECT 0 WHERE $x > 0; SELECT s FROM t WHERE a = $a", {"a": 2, "x": 1})
    assert result.rows == [["y"]]
    with pytest.raises(sql.SqlRefused, match="no value given"):
        sql.run(cur, "SELECT $a", {})
    with pytest.raises(sql.SqlRefused, match="not used"):
        sql.run(cur, "SELECT 1", {"a": 1})


def test_run_caps_the_answer_in_bytes(cur):
    limits = sql.SqlLimits(max_bytes=5_000)
    result = sql.run(cur, "SELECT repeat('x', 1000) FROM range(100)", limits=limits)
    assert 0 < len(result.rows) < 10 and result.truncated


class _CountingCursor:
    """The real cursor, counting the rows DuckDB hands to Python."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self.cursor, self.fetched = cursor, 0

    def fetchmany(self, size: int) -> list:
        rows = self.cursor.fetchmany(size)
        self.fetched += len(rows)
        return rows

    def fetchone(self):
        return self.cursor.fetchone()


def test_wide_rows_are_fetched_only_as_far_as_the_byte_cap(cur):
    # 10 MB a row: a fixed chunk of 500 rows would be 5 GB in Python before the cap.
    cur.execute("SELECT repeat('x', 10000000) FROM range(1000)")
    counting = _CountingCursor(cur)
    rows, truncated = sql._fetch(counting, sql.SqlLimits(max_bytes=32_000_000))
    assert truncated and len(rows) == 3
    assert counting.fetched <= 5


def test_narrow_rows_still_come_in_large_chunks(cur):
    cur.execute("SELECT range FROM range(3000)")
    sizes = []
    counting = _CountingCursor(cur)
    original = counting.fetchmany
    counting.fetchmany = lambda size: sizes.append(size) or original(size)
    rows, truncated = sql._fetch(counting, sql.SqlLimits(max_rows=2000))
    assert len(rows) == 2000 and truncated
    assert max(sizes) == sql.FETCH_CHUNK and len(sizes) <= 6


def test_run_interrupts_a_runaway_query(cur):
    with pytest.raises(sql.SqlTimeout, match="PROVLEDGER_SQL_TIMEOUT_S"):
        sql.run(
            cur,
            "SELECT count(*) FROM range(100000000) a, range(100000000) b",
            limits=sql.SqlLimits(timeout_s=0.3),
        )
    assert sql.run(cur, "SELECT 42").rows == [[42]]


def test_the_transaction_is_read_only_even_past_the_guard(cur):
    # Defence in depth: a write that slipped past the allow-list still cannot commit.
    cur.execute("BEGIN TRANSACTION READ ONLY")
    with pytest.raises(duckdb.TransactionException):
        cur.execute("INSERT INTO t VALUES (9, 'z')")
    cur.execute("ROLLBACK")


def test_locked_down_instance_refuses_files_and_settings(cur):
    # The layer under the allow-lists: even SQL that skipped them cannot read a file.
    with pytest.raises(duckdb.PermissionException, match="disabled by configuration"):
        cur.execute("SELECT * FROM read_csv('/etc/passwd')")
    with pytest.raises(sql.SqlRefused, match="does not exist"):
        sql.run(cur, "SELECT * FROM '/etc/passwd'")  # no replacement scan of files either
    with pytest.raises(duckdb.InvalidInputException, match="locked"):
        cur.execute("SET enable_external_access = true")


def test_values_become_plain_json():
    moment = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert sql_values.jsonable(moment) == "2026-03-01T12:00:00+00:00"
    assert sql_values.jsonable(date(2026, 3, 1)) == "2026-03-01"
    assert sql_values.jsonable(b"\x01\xff") == "01ff"
    assert sql_values.jsonable(Decimal("1.50")) == 1.5
    assert sql_values.jsonable(math.nan) == "nan"
    assert sql_values.jsonable(-math.inf) == "-inf"
    assert sql_values.jsonable(timedelta(hours=1)) == "1:00:00"
    assert sql_values.jsonable(UUID(int=1)) == "00000000-0000-0000-0000-000000000001"
    assert sql_values.jsonable({"k": [b"\x00", None]}) == {"k": ["00", None]}


def test_values_nested_deeper_than_the_recursion_limit_convert():
    deep: list = [b"\x01"]
    for _ in range(5000):
        deep = [deep, {"k": None}]
    converted = sql_values.jsonable(deep)
    text = sql_values.to_json(converted)
    assert text.startswith("[" * 5001 + '"01"]') and text.count('{"k":null}') == 5000
    assert sql_values.json_size(converted) > len(text) // 2


def test_a_nested_result_from_duckdb_is_answered(cur):
    nested = "[1]"
    for _ in range(200):
        nested = f"[{nested}]"
    result = sql.run(cur, f"SELECT {nested} AS v")
    assert sql_values.to_json(result.rows).count("[") == 203


def test_run_locks_down_an_instance_nobody_locked():
    conn = duckdb.connect()
    try:
        assert sql.run(conn.cursor(), "SELECT 1").rows == [[1]]
        with pytest.raises(duckdb.PermissionException, match="disabled by configuration"):
            conn.cursor().execute("SELECT * FROM read_text('/etc/hostname')")
        sql.ensure_locked_down(conn.cursor())  # idempotent
    finally:
        conn.close()
