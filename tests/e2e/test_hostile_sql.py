"""Hostile SQL against the real server while events keep arriving through the real path.

Each string is refused (400, one error shape) or interrupted by the time limit; good reads
keep working; the consumer keeps storing the events a feeder posts during the attempts.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.support.hostile_sql import RUNAWAY, assert_error_shape, post_sql, serving_with_feeder
from tests.support.servers import events_stored
from tests.support.waiting import wait_until

# No file a refused statement names may appear (they all live under this fresh folder).
SCRATCH = Path("/tmp") / f"provledger-hostile-{uuid.uuid4().hex[:8]}"
LOOPBACK = "http://127.0.0.1:9"  # nothing listens there; no traffic leaves the machine

HOSTILE = [
    # writes
    "INSERT INTO dead_letters (reason, detail, received_at) VALUES ('x', 'y', now())",
    "INSERT OR REPLACE INTO kafka_offsets VALUES ('t', 0, 0, now())",
    "UPDATE events SET type = 'forged'",
    "DELETE FROM kafka_offsets",
    "TRUNCATE events",
    "MERGE INTO events USING (SELECT 0 AS seq) s ON events.seq = s.seq WHEN MATCHED THEN DELETE",
    # DDL
    "CREATE TABLE pwned (a INTEGER)",
    "CREATE TEMP TABLE pwned AS SELECT * FROM events",
    "DROP TABLE events",
    "ALTER TABLE events ADD COLUMN pwned INTEGER",
    "CREATE OR REPLACE VIEW deployments_with_changes AS SELECT 1 AS pwned",
    "CREATE MACRO pwned() AS 1",
    "CREATE SEQUENCE pwned",
    "CREATE INDEX pwned ON events (type)",
    # files and network
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_csv_auto('/etc/hostname')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM read_blob('/etc/passwd')",
    "SELECT * FROM read_json('/etc/os-release')",
    f"SELECT * FROM read_parquet('{SCRATCH}/x.parquet')",
    "SELECT * FROM glob('/*')",
    "SELECT * FROM '/etc/passwd'",
    f"SELECT * FROM '{LOOPBACK}/data.csv'",
    f"SELECT * FROM read_parquet('{LOOPBACK}/x.parquet')",
    "SELECT * FROM sniff_csv('/etc/passwd')",
    f"SELECT * FROM parquet_metadata('{SCRATCH}/x.parquet')",
    "SELECT * FROM duckdb_secrets()",
    # COPY / EXPORT / IMPORT
    f"COPY events TO '{SCRATCH}/events.csv'",
    f"COPY (SELECT * FROM events) TO '{SCRATCH}/events.parquet' (FORMAT parquet)",
    "COPY events FROM '/etc/passwd'",
    f"EXPORT DATABASE '{SCRATCH}/export'",
    f"IMPORT DATABASE '{SCRATCH}/export'",
    # ATTACH / DETACH / USE
    f"ATTACH '{SCRATCH}/other.duckdb' AS other",
    "ATTACH ':memory:' AS scratch",
    "DETACH DATABASE ledger",
    "USE system",
    # multi-statement tricks
    "SELECT 1; DROP TABLE events",
    "SELECT 1; INSERT INTO dead_letters (reason, detail, received_at) VALUES ('x','y',now())",
    f"SELECT 1;; COPY events TO '{SCRATCH}/e.csv'",
    "WITH x AS (SELECT 1) SELECT * FROM x; CREATE TABLE pwned AS SELECT 1",
    # comment tricks
    "/* SELECT */ DROP TABLE events",
    "-- SELECT\nDELETE FROM events",
    "SELECT 1 /*; harmless */ ; DELETE FROM events",
    "/*! SELECT */ DELETE FROM events",
    "SeLeCt 1; dRoP tAbLe EvEnTs",
    # SET and pragmas
    "SET enable_external_access = true",
    "RESET enable_external_access",
    "SET lock_configuration = false",
    "SET GLOBAL memory_limit = '1MB'",
    "SET threads = 1",
    "PRAGMA enable_profiling",
    "PRAGMA database_size",
    "CALL pragma_version()",
    # extensions
    "INSTALL httpfs",
    "LOAD httpfs",
    f"INSTALL httpfs FROM '{LOOPBACK}'",
    "FORCE INSTALL spatial",
    "UPDATE EXTENSIONS",
    # state changes in disguise
    "COMMIT",
    "CHECKPOINT",
    "FORCE CHECKPOINT",
    "VACUUM",
    "ANALYZE",
    "SELECT * FROM checkpoint()",
    "SELECT nextval('dead_letter_seq')",
    "SELECT * FROM query('SELECT 1')",
    "EXPLAIN ANALYZE DELETE FROM events",
    "PREPARE p AS DELETE FROM events",
    "EXECUTE p",
    "PIVOT events ON type",
    # not SQL at all
    "SELECT * FROM",
    "   ",
]


# One server for the module: every statement the tests send is refused or only reads, so
# neither test changes what the other reads; both wait only for the feeder's events.
@pytest.fixture(scope="module")
def server(start_module_server, module_settings):
    yield from serving_with_feeder(
        start_module_server,
        module_settings.db_path.parent,
        {"PROVLEDGER_SQL_TIMEOUT_S": "1", "PROVLEDGER_SQL_MAX_ROWS": "50"},
    )


def test_hostile_sql_is_refused_while_ingestion_carries_on(server):
    running, feeder = server
    wait_until(lambda: events_stored(running.url) > 0, 60, "the feeder's first event")
    before = events_stored(running.url)

    refused = []
    for text in HOSTILE:
        body = assert_error_shape(post_sql(running.url, text), 400)
        refused.append((text, body["error"]))
    interrupted = assert_error_shape(post_sql(running.url, RUNAWAY), 400)
    assert "PROVLEDGER_SQL_TIMEOUT_S" in interrupted["error"]

    # Ingestion went on during the attempts, through Kafka and the consumer.
    wait_until(lambda: events_stored(running.url) > before, 60, f"more than {before} events")
    during = events_stored(running.url)
    feeder.stop()
    wait_until(lambda: events_stored(running.url) >= feeder.sent, 60, "every event fed")
    assert before < during <= events_stored(running.url) == feeder.sent

    # Nothing escaped: no file written, schema and settings untouched.
    assert not SCRATCH.exists()
    tables = post_sql(running.url, "SELECT table_name FROM duckdb_tables()").json()["rows"]
    assert ["pwned"] not in tables
    columns = post_sql(running.url, "DESCRIBE deployments_with_changes").json()["rows"]
    assert "pwned" not in {row[0] for row in columns} and len(columns) > 5
    setting = post_sql(running.url, "SELECT current_setting('enable_external_access')")
    assert setting.json()["rows"] == [[False]]
    assert any("not allowed" in error for _, error in refused)
    assert any("disabled by configuration" in error for _, error in refused)


def test_good_reads_work_with_ctes_parameters_and_caps(server):
    running, _ = server
    wait_until(lambda: events_stored(running.url) >= 3, 60, "3 events fed")
    count = post_sql(running.url, "SELECT count(*) AS n FROM events")
    assert count.status_code == 200 and count.json()["columns"] == ["n"]
    assert count.json()["rows"][0][0] >= 3

    cte = post_sql(
        running.url,
        "WITH per_type AS (SELECT type, count(*) AS n FROM events GROUP BY type) "
        "SELECT type, n FROM per_type WHERE n >= $least ORDER BY n DESC",
        {"least": 1},
    )
    assert cte.status_code == 200
    assert cte.json()["rows"][0][0] == "dev.provledger.change.authored.v1"

    params = post_sql(
        running.url,
        "SELECT count(*) FROM changes WHERE repo = $repo AND author_id = $author",
        {"repo": "shop/feed", "author": "feeder@shop.example"},
    )
    assert params.status_code == 200 and params.json()["rows"][0][0] >= 1

    for text in (
        "DESCRIBE events",
        "SHOW TABLES",
        "SUMMARIZE SELECT seq FROM events",
        "EXPLAIN SELECT * FROM events",
        "SELECT * FROM deployments_with_changes",
    ):
        assert post_sql(running.url, text).status_code == 200, text

    capped = post_sql(running.url, "SELECT * FROM range(1000)").json()
    assert len(capped["rows"]) == 50 and capped["truncated"] is True
    whole = post_sql(running.url, "SELECT * FROM range(10)").json()
    assert len(whole["rows"]) == 10 and whole["truncated"] is False

    missing = assert_error_shape(post_sql(running.url, "SELECT $nope"), 400)
    assert "nope" in missing["error"]

    # The CLI over the same API: JSON-typed and string parameters, three output formats.
    as_json = running.cli(
        "sql", "SELECT $n + 1 AS m, $s AS s", "-p", "n:=41", "-p", "s=hello", "--format", "json"
    )
    answer = json.loads(as_json.stdout)
    as_of = answer.pop("as_of")
    assert answer == {"columns": ["m", "s"], "rows": [[42, "hello"]], "truncated": False}
    assert as_of["events"] >= 3 and as_of["taken_at"]
    table = running.cli("sql", "SELECT 'checkout' AS service")
    assert "service" in table.stdout and "checkout" in table.stdout
    capped_csv = running.cli("sql", "SELECT * FROM range(100) t(n)", "--format", "csv")
    assert capped_csv.stdout.splitlines()[:2] == ["n", "0"] and "truncated" in capped_csv.stderr
    refused = running.cli("sql", "DROP TABLE events", check=False)
    assert refused.returncode == 4 and "DROP statements are not allowed" in refused.stderr
