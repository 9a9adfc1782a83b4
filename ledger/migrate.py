"""The ledger file's schema, made or brought up to date only when asked: :func:`migrate`.

The schema is every SQL file the ledger ships, run in this order: ``schema.sql`` (the tables),
``indexes.sql``, then each ``views/*.sql`` by name; between the tables and the rest, an older
file's offsets move to the table that replaced theirs. Every statement is idempotent (``IF NOT
EXISTS``, ``CREATE OR REPLACE``), so migrating a current file changes nothing and migrating an
older one adds what it lacks; a new file in ``views/`` is taken up without a code change.

A migrated file keeps the digest of the SQL it was migrated with (table ``ledger_schema``).
Opening a ledger checks it (:func:`require_current`): a file never migrated, or migrated by
an older provledger, is refused with the reason instead of being used with half a schema.
The composition roots (``provledger serve``, ``rebuild``) open their file with
``Ledger.open(path, migrate=True)``.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

import duckdb

from provenance_ledger.ledger import commit_facts, identity
from provenance_ledger.ledger.rows import has_column, has_table
from provenance_ledger.schemas.errors import LocalFailure

PACKAGE = "provenance_ledger.ledger"


class NotMigrated(RuntimeError, LocalFailure):
    """The file's schema is not the one this provledger writes: run the migration first."""


def sql_files() -> list[Traversable]:
    """The schema's SQL files, in the order they run."""
    folder = resources.files(PACKAGE)
    views = sorted(
        (f for f in folder.joinpath("views").iterdir() if f.name.endswith(".sql")),
        key=lambda f: f.name,
    )
    return [folder.joinpath("schema.sql"), folder.joinpath("indexes.sql"), *views]


@cache
def schema_digest() -> str:
    """SHA-256 over the SQL files' names and texts: any change to the schema changes it."""
    digest = hashlib.sha256()
    for sql in sql_files():
        digest.update(f"{sql.name}\0{sql.read_text()}\0".encode())
    return digest.hexdigest()


def migrate(conn: duckdb.DuckDBPyConnection) -> None:
    """Bring the database behind ``conn`` to this provledger's schema, in one transaction:
    the SQL files, the ``commit_facts`` rows of a file written before that table existed,
    the file's ledger id (made on first migration) and the digest."""
    cur = conn.cursor()
    try:
        cur.begin()
        try:
            schema, *later = sql_files()
            regions_missing = has_table(cur, "incidents") and not has_column(
                cur, "incidents", "region"
            )
            cur.execute(schema.read_text())
            _offsets_to_marks(cur)
            if regions_missing:
                _incident_regions(cur)
            for sql in later:
                cur.execute(sql.read_text())
            commit_facts.catch_up(cur)
            identity.ensure_id(cur)
            cur.execute("DELETE FROM ledger_schema")
            cur.execute("INSERT INTO ledger_schema VALUES (?)", [schema_digest()])
            cur.commit()
        except BaseException:
            cur.rollback()
            raise
    finally:
        cur.close()


def _offsets_to_marks(cur: duckdb.DuckDBPyConnection) -> None:
    """A file from before ``kafka_offset_marks``: its table ``kafka_offsets`` (a row per
    partition, updated) becomes one mark per partition, and the view of that name replaces it."""
    if has_table(cur, "kafka_offsets"):
        cur.execute(
            "INSERT INTO kafka_offset_marks "
            "SELECT topic, kafka_partition, next_offset, updated_at FROM kafka_offsets"
        )
        cur.execute("DROP TABLE kafka_offsets")


def _incident_regions(cur: duckdb.DuckDBPyConnection) -> None:
    """A file from before ``incidents.region``: each opening's region from its event, by the
    rule the projection keeps (ledger/projection.py, ``region_of_data``)."""
    cur.execute(
        "UPDATE incidents SET region = e.data->>'$.region' FROM events e "
        "WHERE e.seq = incidents.event_seq AND json_type(e.data, '$.region') = 'VARCHAR'"
    )


def require_current(conn: duckdb.DuckDBPyConnection, path: str) -> None:
    """Raise :class:`NotMigrated` unless the file was migrated with this schema."""
    try:
        # fetchall: an open result would keep a transaction open (see identity.stored_id).
        rows = conn.execute("SELECT digest FROM ledger_schema LIMIT 1").fetchall()
    except duckdb.CatalogException:
        rows = []
    if not rows:
        raise NotMigrated(
            f"{path} has no ledger schema yet (a new file, or one from before migrations): "
            "open it with Ledger.open(path, migrate=True), as `provledger serve` does"
        )
    if rows[0][0] != schema_digest():
        raise NotMigrated(
            f"{path} was migrated with another schema than this provledger's (an older "
            "version?): open it with Ledger.open(path, migrate=True), as `provledger serve` "
            "does, to bring it up to date"
        )
