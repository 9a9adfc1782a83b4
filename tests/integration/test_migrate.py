"""The ledger's schema is made only by the explicit migration, and a file that was never
migrated (or by another schema) is refused with the reason, never used half made."""

from __future__ import annotations

import random
import string
from pathlib import Path

import duckdb
import pytest

from provenance_ledger.ledger import migrate
from provenance_ledger.ledger.migrate import NotMigrated
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.readmodels.incidents import find_incident
from tests.support.provstory import Story, write_direct


def tables(path: Path) -> set[str]:
    conn = duckdb.connect(str(path), read_only=True)
    try:
        return {
            name for (name,) in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        }
    finally:
        conn.close()


def test_opening_a_new_file_without_migrating_is_refused_and_makes_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "new.duckdb"
    with pytest.raises(NotMigrated, match="no ledger schema yet"):
        Ledger.open(path)
    assert tables(path) == set()


def test_a_file_migrated_with_another_schema_is_refused_until_migrated(tmp_path: Path) -> None:
    path = tmp_path / "older.duckdb"
    Ledger.open(path, migrate=True).close()
    conn = duckdb.connect(str(path))
    conn.execute("UPDATE ledger_schema SET digest = 'an older schema'")
    conn.close()
    for read_only in (False, True):
        with pytest.raises(NotMigrated, match="another schema"):
            Ledger.open(path, read_only=read_only)
    Ledger.open(path, migrate=True).close()
    reader = Ledger.open(path, read_only=True)
    try:
        digest = reader.cursor().execute("SELECT digest FROM ledger_schema").fetchall()
        assert digest == [(migrate.schema_digest(),)]
    finally:
        reader.close()


def test_migrating_a_file_from_before_migrations_adds_what_it_lacks(tmp_path: Path) -> None:
    path = tmp_path / "early.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE events (seq BIGINT PRIMARY KEY)")
    conn.close()
    with pytest.raises(NotMigrated):
        Ledger.open(path)
    ledger = Ledger.open(path, migrate=True)
    try:
        assert ledger.ledger_id is not None
    finally:
        ledger.close()
    assert {"ledger_schema", "ledger_identity", "commit_facts", "log_records"} <= tables(path)


def test_a_failed_migration_leaves_no_half_made_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "zz_broken.sql"
    broken.write_text("CREATE VIEW broken AS SELECT no_such_column FROM events;")
    shipped = migrate.sql_files()
    monkeypatch.setattr(migrate, "sql_files", lambda: [*shipped, broken])
    path = tmp_path / "ledger.duckdb"
    with pytest.raises(duckdb.Error, match="no_such_column"):
        Ledger.open(path, migrate=True)
    assert tables(path) == set()


def test_a_read_only_ledger_cannot_migrate(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="read-only"):
        Ledger.open(tmp_path / "ledger.duckdb", migrate=True, read_only=True)


def test_an_older_files_offsets_table_becomes_marks_and_the_view(tmp_path: Path) -> None:
    """Files from before kafka_offset_marks kept a row per partition in a table kafka_offsets,
    updated with each batch; migrating moves those rows to marks, and the view of that name
    answers as the table did."""
    path = tmp_path / "older.duckdb"
    Ledger.open(path, migrate=True).close()
    conn = duckdb.connect(str(path))
    conn.execute("DROP VIEW kafka_offsets")
    conn.execute(
        "CREATE TABLE kafka_offsets (topic VARCHAR NOT NULL, kafka_partition INTEGER NOT NULL, "
        "next_offset BIGINT NOT NULL, updated_at TIMESTAMPTZ NOT NULL, "
        "PRIMARY KEY (topic, kafka_partition))"
    )
    conn.execute(
        "INSERT INTO kafka_offsets VALUES ('t', 0, 120, now()), ('t', 2, 7, now()), "
        "('other', 0, 3, now())"
    )
    conn.execute("UPDATE ledger_schema SET digest = 'the schema with a table of offsets'")
    conn.close()

    ledger = Ledger.open(path, migrate=True)
    try:
        assert ledger.committed_offsets("t") == {0: 120, 2: 7}
        assert ledger.committed_offsets("other") == {0: 3}
        cur = ledger.cursor()
        assert cur.execute("SELECT count(*) FROM kafka_offset_marks").fetchall() == [(3,)]
        kinds = "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'kafka_offset%'"
        assert cur.execute(kinds).fetchall() == [("kafka_offset_marks",)]
    finally:
        ledger.close()
    # Migrating again changes nothing.
    Ledger.open(path, migrate=True).close()
    again = Ledger.open(path, read_only=True)
    try:
        assert again.committed_offsets("t") == {0: 120, 2: 7}
    finally:
        again.close()


def without_incident_regions(path: Path, story: Story) -> Path:
    """A file holding ``story``, made to look like one from before ``incidents.region``."""
    ledger = Ledger.open(path, migrate=True)
    try:
        write_direct(ledger, story.events)
    finally:
        ledger.close()
    conn = duckdb.connect(str(path))
    conn.execute("DROP INDEX incidents_incident_idx")
    conn.execute("ALTER TABLE incidents DROP COLUMN region")
    conn.execute("UPDATE ledger_schema SET digest = 'the schema without regions on incidents'")
    conn.close()
    return path


def test_an_older_files_incidents_get_their_regions_from_their_events(tmp_path: Path) -> None:
    """Files from before ``incidents.region`` kept an opening's region only in its event's
    data; migrating copies it to the column (text only, as the projection keeps it), which
    is where the incident and suspects reads take it from."""
    story = Story()
    story.incident("INC-1", ["checkout"], region="eu-west-1")
    story.incident("INC-2", ["search"], region=5)
    story.incident("INC-3", ["cart"])
    path = without_incident_regions(tmp_path / "older.duckdb", story)

    ledger = Ledger.open(path, migrate=True)
    try:
        cur = ledger.cursor()
        regions = dict(cur.execute("SELECT incident, region FROM incidents").fetchall())
        assert regions == {"INC-1": "eu-west-1", "INC-2": None, "INC-3": None}
        found = find_incident(cur, "INC-1")
        assert found is not None and found["region"] == "eu-west-1"
    finally:
        ledger.close()


def test_what_a_migration_reads_does_not_stay_in_the_ledgers_memory(tmp_path: Path) -> None:
    """Taking regions from the events reads their data, and DuckDB keeps what it read in its
    buffer pool for as long as the database is open: a serve that migrated a 10M-event file
    in the DuckDB it then served from held 2 GB for good. The migration runs in one of its
    own."""
    story = Story()
    rng = random.Random(7)
    for n in range(3000):
        # ~12 MB of event data in all, incompressible, for the migration to read.
        notes = "".join(rng.choices(string.ascii_letters, k=4000))
        story.incident(f"INC-{n}", ["checkout"], region="eu-west-1", notes=notes)
    path = without_incident_regions(tmp_path / "older.duckdb", story)

    ledger = Ledger.open(path, migrate=True)
    try:
        cur = ledger.cursor()
        assert cur.execute("SELECT count(region) FROM incidents").fetchall() == [(3000,)]
        held = cur.execute(
            "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() "
            "WHERE tag = 'BASE_TABLE'"
        ).fetchall()[0][0]
        # Migrated in the ledger's own DuckDB, it held 13 MB of table blocks here.
        assert held < 4_000_000
    finally:
        ledger.close()
