"""A ledger file's identity and the consumer group it may use.

Each ledger file gets a random id when it is created. Its default consumer group is derived
from that id, so two files never share a group unless told to: two ledgers in one group
would split the topic's partitions, and each projection would silently miss the other's
events. With an explicit ``PROVLEDGER_GROUP``, the ledger claims the group in Kafka by
committing its id as offset metadata (the offsets themselves live in DuckDB, so these
commits carry no position the ledger reads back), and refuses a group already claimed by
another ledger or used by another consumer (see ledger/topic.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime

import duckdb

CLAIM_PREFIX = "provledger-ledger:"


def stored_id(conn: duckdb.DuckDBPyConnection) -> str | None:
    """The file's ledger id; None before the file's first migration made one."""
    # fetchall: a result left open keeps its transaction open on the ledger's connection,
    # and DuckDB never checkpoints while one is (the WAL grows with every batch).
    rows = conn.execute("SELECT ledger_id FROM ledger_identity LIMIT 1").fetchall()
    return rows[0][0] if rows else None


def ensure_id(conn: duckdb.DuckDBPyConnection) -> str:
    """The file's ledger id, made on first use (by the migration, ledger/migrate.py)."""
    stored = stored_id(conn)
    if stored is not None:
        return stored
    ledger_id = uuid.uuid4().hex
    conn.execute("INSERT INTO ledger_identity VALUES (?, now())", [ledger_id])
    return ledger_id


def adopt(conn: duckdb.DuckDBPyConnection, identity: tuple[str, datetime]) -> None:
    """Give this (new) file another file's identity: a rebuilt ledger is the same ledger."""
    conn.execute("DELETE FROM ledger_identity")
    conn.execute("INSERT INTO ledger_identity VALUES (?, ?)", list(identity))


def read(path: str) -> tuple[str, datetime] | None:
    """(ledger id, created at) of the file at ``path``; None if it has none (or no file)."""
    try:
        conn = duckdb.connect(path, read_only=True)
    except duckdb.Error:
        return None
    try:
        row = conn.execute("SELECT ledger_id, created_at FROM ledger_identity LIMIT 1").fetchone()
    except duckdb.CatalogException:  # a file made before ledgers had ids
        return None
    finally:
        conn.close()
    return (row[0], row[1]) if row else None


def default_group(ledger_id: str) -> str:
    return f"provledger-ledger-{ledger_id[:12]}"


def claim(ledger_id: str) -> str:
    """The offset metadata that says which ledger committed in a group."""
    return CLAIM_PREFIX + ledger_id


def client_id(ledger_id: str) -> str:
    """The Kafka client id of a ledger's consumer, seen by others in the group's members."""
    return f"provledger-{ledger_id[:12]}"
